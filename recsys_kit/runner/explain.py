"""The "why" of each recommendation: target-attention weights over the user's history."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.data import SequenceData
from recsys_kit.nn.batches import left_pad, ratings_input
from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.ranking import NO_ITEM
from recsys_kit.runner.context import RunContext
from recsys_kit.store import ResultStore


@torch.no_grad()
def write_explanations(
    ctx: RunContext,
    store: ResultStore,
    model: PairwiseRecommender,
    data: SequenceData,
    histories: Sequence[np.ndarray],
    top: np.ndarray,
    ratings: Sequence[np.ndarray] | None,
    max_len: int,
) -> int:
    """Store, per recommendation (user, rank), the ``explain_top`` history items with the
    largest attention weights. Returns the number of rows written."""
    keep = model.fusion.config.explain_top
    settings = ctx.loaded.recipe.train
    model.eval()
    table = model.item_table()
    columns: dict[str, list[np.ndarray]] = {"user_id": [], "rank": [], "history_item_id": [],
                                            "weight": []}
    for start in range(0, len(top), settings.eval_batch_size):
        rows = np.arange(start, min(start + settings.eval_batch_size, len(top)))
        history = left_pad([histories[u] for u in rows], max_len)
        candidates = to_device(torch.from_numpy(np.ascontiguousarray(top[rows])), ctx.device)
        with autocast(ctx.device, settings.precision):
            _, weights = model.attend(to_device(torch.from_numpy(history), ctx.device),
                                      candidates, table=table,
                                      **ratings_input(ratings, rows, max_len, ctx.device))
        n = min(keep, max_len)
        values, positions = weights.float().topk(n, dim=-1)  # (B, K, n)
        values, positions = values.cpu().numpy(), positions.cpu().numpy()
        tokens = np.take_along_axis(history[:, None, :], positions, axis=2)
        real = (values > 0) & (tokens != 0) & (top[rows][:, :, None] != NO_ITEM)
        user_index, rank_index, _ = np.nonzero(real)
        columns["user_id"].append(data.user_ids[rows[user_index]])
        columns["rank"].append(rank_index + 1)
        columns["history_item_id"].append(data.item_ids[tokens[real] - 1])
        columns["weight"].append(values[real].astype(np.float64))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in columns.items()}
    out["user_id"] = out["user_id"].astype(object)
    out["history_item_id"] = out["history_item_id"].astype(object)
    out["rank"] = out["rank"].astype(np.int32)
    store.write_explanations(ctx.run_id, out)
    return len(out["weight"])
