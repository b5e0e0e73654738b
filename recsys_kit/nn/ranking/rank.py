"""Full ranking over the whole catalogue, seen items masked: top-K per user in batches."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch

from recsys_kit.errors import NonFiniteError
from recsys_kit.nn.batches import padded, ratings_input
from recsys_kit.nn.precision import autocast
from recsys_kit.ranking import NO_ITEM, Ranking


@torch.no_grad()
def rank(
    model: torch.nn.Module,
    histories: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    *,
    k: int,
    max_len: int,
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
    mask_seen: bool = True,
    users: np.ndarray | None = None,
    ratings: Sequence[np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
) -> Ranking:
    """Rank every item for the users in ``users`` (default: all) given their histories.

    ``ratings`` (aligned with ``histories``) go to models that read them; ``candidates``
    (bool per token) restricts the ranking to those items (cold-start evaluation).
    """
    model.eval()
    users = np.arange(len(histories)) if users is None else users
    top_items, top_scores = [], []
    # A model that narrows the catalogue itself (two-stage) must know what is excluded first.
    narrows = getattr(model, "narrows_candidates", False)
    # Tokens no user may get, built once per ranking, on the device.
    never = cache(lambda n_tokens: never_ranked(n_tokens, candidates, device))
    with autocast(device, precision):
        score = model.batch_scorer()
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        seqs = [histories[u] for u in batch]
        history = padded(seqs, max_len, device)
        extra = ratings_input(ratings, batch, max_len, device)
        if narrows:
            extra["blocked"] = blocked_tokens(seqs, never(model.n_items + 2), mask_seen)
        with autocast(device, precision):
            scores = score(history, **extra).float()
        blocked = extra.get("blocked")
        if blocked is None:
            blocked = blocked_tokens(seqs, never(scores.shape[1]), mask_seen)
        indices, values = top_tokens(scores, blocked, k)
        k = indices.shape[1]
        top_items.append(indices.cpu().numpy())
        top_scores.append(values.cpu().numpy())
    return Ranking(
        users=users,
        items=np.concatenate(top_items) if top_items else np.zeros((0, k), np.int64),
        scores=np.concatenate(top_scores) if top_scores else np.zeros((0, k), np.float32),
        targets=[np.unique(targets[u]) for u in users],
    )


def top_tokens(scores: torch.Tensor, blocked: torch.Tensor, k: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` item tokens per row of ``scores`` (B, n_tokens) and their scores, leaving
    out ``blocked`` ones: ``NO_ITEM`` and -inf where fewer are allowed.

    Scores that are NaN or +inf raise :class:`~recsys_kit.errors.NonFiniteError`: a ranking
    built on them would look valid and be meaningless.
    """
    check_finite(scores, "scored some items")
    # Only real items (tokens 1..n) are candidates: never padding or the mask token.
    scores = scores.masked_fill(blocked, float("-inf"))[:, 1:-1]
    values, columns = highest(scores, min(k, scores.shape[1]))
    return (columns + 1).masked_fill(values.isneginf(), NO_ITEM), values


def highest(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest ``scores`` per row and their columns, equal scores in column order.

    ``Tensor.topk`` orders equal values as its kernel happens to, which changes with K and the
    device: a ranking's metrics then depended on the largest K any evaluator asked for (a
    popularity model ties often). Here a tie at the cut keeps the earliest columns, and ties
    within the top K are put in column order.
    """
    n = scores.shape[1]
    if k == 0:
        return scores.topk(0, dim=1)
    values, columns = scores.topk(min(k + 1, n), dim=1)  # one more: does a tie cross the cut?
    crosses = None
    if values.shape[1] > k:
        crosses = (values[:, k] == values[:, k - 1]) & ~values[:, k - 1].isneginf()
        values, columns = values[:, :k], columns[:, :k]
    if crosses is not None and bool(crosses.any()):
        rows = crosses.nonzero().squeeze(1)
        last = values[rows, -1:]
        slots = (values[rows] == last).sum(1)  # the top K's places taken by the cut's score
        # int32 keys, the size of the scores: a popularity model ties on every row
        earlier_first = torch.arange(n, 0, -1, device=scores.device, dtype=torch.int32)
        tied_rows = scores if len(rows) == len(scores) else scores[rows]
        key = torch.where(tied_rows == last, earlier_first, 0)
        tied = key.topk(int(slots.max()), dim=1).indices  # in column order
        place = torch.arange(k, device=scores.device)[None, :] - (k - slots)[:, None]
        chosen = tied.gather(1, place.clamp(0, tied.shape[1] - 1))
        columns[rows] = torch.where(place >= 0, chosen, columns[rows])
    columns, order = columns.sort(dim=1)
    values, by_score = values.gather(1, order).sort(dim=1, descending=True, stable=True)
    return values, columns.gather(1, by_score)


def check_finite(values: torch.Tensor, what: str) -> None:
    """Raise when ``values`` hold NaN or +inf (-inf marks items that are never candidates): a
    ranking or prediction built on them would look valid and be meaningless."""
    bad = values.isnan() | values.isposinf()
    if bool(bad.any()):
        raise NonFiniteError(
            f"The model {what} NaN or +inf ({int(bad.sum()):,} of {values.numel():,} values), "
            "so no ranking, metric or recommendation from it can be trusted. This usually means "
            "training diverged: lower train.lr, keep train.grad_clip on, or set "
            "train.precision: fp32.")


def never_ranked(n_tokens: int, candidates: np.ndarray | None,
                 device: torch.device) -> torch.Tensor:
    """(n_tokens,) True for tokens no user may get: padding, the mask token, non-candidates."""
    never = torch.zeros(n_tokens, dtype=torch.bool)
    never[0] = never[-1] = True
    if candidates is not None:
        never |= ~torch.from_numpy(candidates[:n_tokens])
    return never.to(device)


def blocked_tokens(
    seqs: Sequence[np.ndarray], never: torch.Tensor, mask_seen: bool
) -> torch.Tensor:
    """(B, n_tokens) True where a token may not be recommended: ``never`` for everyone, and
    (``mask_seen``) every item in the user's whole history."""
    blocked = never.expand(len(seqs), -1).clone()
    if mask_seen and len(seqs):
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        rows = torch.from_numpy(np.repeat(np.arange(len(seqs)), lens)).to(never.device)
        cols = torch.from_numpy(np.concatenate(seqs).astype(np.int64)).to(never.device)
        blocked[rows, cols] = True
    return blocked
