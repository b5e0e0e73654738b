"""Full ranking over the whole catalogue, seen items masked: top-K per user in batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.nn.batches import left_pad
from recsys_kit.nn.precision import autocast, to_device
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
    with autocast(device, precision):
        score = model.batch_scorer()
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        seqs = [histories[u] for u in batch]
        history = to_device(torch.from_numpy(left_pad(seqs, max_len)), device)
        extra = {}
        if ratings is not None:
            rated = left_pad([ratings[u] for u in batch], max_len, np.float32)
            extra["ratings"] = to_device(torch.from_numpy(rated), device)
        if narrows:
            extra["blocked"] = blocked_tokens(seqs, model.n_items + 2, candidates, mask_seen,
                                              device)
        with autocast(device, precision):
            scores = score(history, **extra).float()
        blocked = extra.get("blocked")
        if blocked is None:
            blocked = blocked_tokens(seqs, scores.shape[1], candidates, mask_seen, device)
        # Only real items (tokens 1..n) are candidates: never padding or the mask token.
        scores = scores.masked_fill(blocked, float("-inf"))[:, 1:-1]
        k = min(k, scores.shape[1])
        values, indices = scores.topk(k, dim=1)
        indices = (indices + 1).masked_fill(values.isneginf(), NO_ITEM)
        top_items.append(indices.cpu().numpy())
        top_scores.append(values.cpu().numpy())
    return Ranking(
        users=users,
        items=np.concatenate(top_items) if top_items else np.zeros((0, k), np.int64),
        scores=np.concatenate(top_scores) if top_scores else np.zeros((0, k), np.float32),
        targets=[np.unique(targets[u]) for u in users],
    )



def blocked_tokens(
    seqs: Sequence[np.ndarray], n_tokens: int, candidates: np.ndarray | None, mask_seen: bool,
    device: torch.device,
) -> torch.Tensor:
    """(B, n_tokens) True where a token may not be recommended: padding, the mask token,
    non-candidates and (``mask_seen``) every item in the user's whole history."""
    blocked = torch.zeros(len(seqs), n_tokens, dtype=torch.bool)
    blocked[:, 0] = blocked[:, -1] = True
    if candidates is not None:
        blocked |= ~torch.from_numpy(candidates[:n_tokens])
    if mask_seen and len(seqs):
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        rows = torch.from_numpy(np.repeat(np.arange(len(seqs)), lens))
        blocked[rows, torch.from_numpy(np.concatenate(seqs).astype(np.int64))] = True
    return blocked.to(device)
