"""Model-agnostic explanations by occlusion: how much a recommendation's score drops when one
item is removed from the user's history.

Works through the model's generic scoring interface (``pair_scorer``), so it explains any
model the ranking code can score: SASRec, BERT4Rec, target attention, plugin encoders. For a
user whose model sees ``n`` history items, the ``n`` histories with one item removed (and the
full one) are scored in one batch against the user's recommended items; several users share
a batch when they fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from recsys_kit.nn.batches import left_pad
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.ranking import NO_ITEM

METHOD = "occlusion"


@dataclass(frozen=True)
class Reason:
    """One history item behind one recommendation: removing it lowers the score by ``weight``.

    ``rank`` is the recommendation's rank (from 1), ``position`` the item's index in the
    history passed in, ``item`` its token.
    """

    rank: int
    position: int
    item: int
    weight: float


def occluded(history: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The full history and, per item the model sees (the last ``max_len``), the history
    without it: a left-padded (1 + n, max_len) array, and the n items' positions in
    ``history``. Removing an item lets an older one slide into the window, as it would."""
    window = history[-(max_len + 1):]
    start = len(history) - len(window)
    seen = np.arange(max(len(window) - max_len, 0), len(window))
    if not len(seen):
        return left_pad([window], max_len, dtype=history.dtype), seen
    keep = np.ones((len(seen), len(window)), dtype=bool)
    keep[np.arange(len(seen)), seen] = False
    without = window[None, :].repeat(len(seen), 0)[keep].reshape(len(seen), len(window) - 1)
    return left_pad([window, *without], max_len, dtype=history.dtype), start + seen


def _chunks(sizes: Sequence[int], rows: int) -> Iterator[np.ndarray]:
    """Consecutive user indices whose variant counts add up to about ``rows`` (at least one
    user per chunk)."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if total and total + size > rows:
            yield np.arange(start, i)
            start, total = i, 0
        total += size
    if start < len(sizes):
        yield np.arange(start, len(sizes))


@torch.no_grad()
def occlusion_reasons(
    model: torch.nn.Module,
    histories: Sequence[np.ndarray],
    recommended: np.ndarray,
    *,
    keep: int,
    max_len: int,
    device: torch.device,
    precision: str = "fp32",
    batch_rows: int = 2048,
    ratings: Sequence[np.ndarray] | None = None,
    table: torch.Tensor | None = None,
) -> list[list[Reason]]:
    """Per user, the ``keep`` history items whose removal lowers each recommendation's score
    most (only items that lower it). ``recommended`` is (users, K) tokens, ``NO_ITEM`` in
    empty slots; ``ratings`` (aligned with ``histories``) go to models that read them;
    ``table`` is the item table to score with (serving's, with new items appended)."""
    model.eval()
    with autocast(device, precision):
        score = model.pair_scorer() if table is None else model.pair_scorer(table=table)
    variants = [occluded(np.asarray(h), max_len) for h in histories]
    rated = None if ratings is None else [
        occluded(np.asarray(r, dtype=np.float32), max_len)[0] for r in ratings]
    out: list[list[Reason]] = []
    for users in _chunks([len(v[0]) for v in variants], batch_rows):
        sizes = np.array([len(variants[u][0]) for u in users])
        history = np.concatenate([variants[u][0] for u in users])
        candidates = np.repeat(recommended[users], sizes, axis=0)
        extra = {} if rated is None else {"ratings": to_device(
            torch.from_numpy(np.concatenate([rated[u] for u in users])), device)}
        with autocast(device, precision):
            scores = score(to_device(torch.from_numpy(history), device),
                           to_device(torch.from_numpy(np.ascontiguousarray(candidates)), device),
                           **extra).float().cpu().numpy()
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        for u, first, size in zip(users, starts, sizes, strict=True):
            with np.errstate(invalid="ignore"):  # empty slots may score -inf - -inf
                drops = scores[first] - scores[first + 1:first + size]  # (n, K)
            out.append(_strongest(drops, variants[u][1], histories[u], recommended[u], keep))
    return out


def _strongest(drops: np.ndarray, positions: np.ndarray, history: np.ndarray,
               recommended: np.ndarray, keep: int) -> list[Reason]:
    """The ``keep`` largest positive drops per recommended item."""
    reasons = []
    order = np.argsort(-drops, axis=0, kind="stable")[:keep]  # (keep, K)
    for rank_index, item in enumerate(recommended):
        if item == NO_ITEM:
            continue
        for j in order[:, rank_index]:
            drop = float(drops[j, rank_index])
            if drop > 0:
                position = int(positions[j])
                reasons.append(Reason(rank_index + 1, position, int(history[position]), drop))
    return reasons


def explain(
    model: torch.nn.Module,
    history: np.ndarray,
    items: np.ndarray,
    *,
    max_len: int,
    keep: int = 5,
    device: torch.device | None = None,
    precision: str = "fp32",
    ratings: np.ndarray | None = None,
    table: torch.Tensor | None = None,
) -> list[Reason]:
    """Explain one user's recommendations by occlusion (for serving): ``history`` and
    ``items`` are tokens, ``items[r]`` the recommendation at rank ``r + 1``; returns, per
    recommendation, up to ``keep`` history items whose removal lowers its score most."""
    device = device or next(model.parameters(), torch.empty(0)).device
    return occlusion_reasons(
        model, [np.asarray(history, dtype=np.int64)], np.asarray(items, np.int64)[None, :],
        keep=keep, max_len=max_len, device=device, precision=precision,
        ratings=None if ratings is None else [ratings], table=table)[0]
