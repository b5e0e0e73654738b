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
        with autocast(device, precision):
            # Only real items (tokens 1..n) are candidates: never padding or the mask token.
            scores = score(history, **extra).float()[:, 1:-1].clone()
        if candidates is not None:
            scores[:, ~torch.from_numpy(candidates[1:-1]).to(device)] = float("-inf")
        k = min(k, scores.shape[1])
        if mask_seen:
            lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
            rows = torch.from_numpy(np.repeat(np.arange(len(seqs)), lens)).to(device)
            cols = torch.from_numpy(np.concatenate(seqs) - 1).to(device)
            scores[rows, cols] = float("-inf")
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

