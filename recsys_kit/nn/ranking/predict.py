"""Scores of each user's held-out items (rating prediction), in batches of users."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.nn.batches import left_pad, padded, ratings_input
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.nn.ranking.rank import check_finite
from recsys_kit.predictions import PairPredictions


@torch.no_grad()
def predict_pairs(
    model: torch.nn.Module,
    histories: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    target_ratings: Sequence[np.ndarray],
    *,
    max_len: int,
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
    ratings: Sequence[np.ndarray] | None = None,
) -> PairPredictions:
    """``model.pair_scores`` of every (user, target) pair; users without targets are skipped."""
    model.eval()
    with autocast(device, precision):
        score = model.pair_scorer()
    users = np.flatnonzero([len(t) for t in targets])
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        history = padded([histories[u] for u in batch], max_len, device)
        wanted = left_pad([targets[u] for u in batch], max(len(targets[u]) for u in batch))
        with autocast(device, precision):
            scores = score(history, to_device(torch.from_numpy(wanted), device),
                           **ratings_input(ratings, batch, max_len, device)).float()
        check_finite(scores, "predicted")
        scores = scores.cpu().numpy()
        real = wanted != 0
        rows = np.repeat(batch, real.sum(1))
        actual = np.concatenate([target_ratings[u] for u in batch]).astype(np.float64)
        parts.append((rows, wanted[real], scores[real].astype(np.float64), actual))
    if not parts:
        empty = np.zeros(0)
        return PairPredictions(empty.astype(np.int64), empty.astype(np.int64), empty, empty)
    users_, items, predicted, actual = (np.concatenate(c) for c in zip(*parts, strict=True))
    return PairPredictions(users_, items, predicted, actual)
