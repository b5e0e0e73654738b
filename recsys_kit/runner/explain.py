"""The "why" of each recommendation: target-attention weights over the user's history, or
(any model) the score drop when one history item is removed (occlusion)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.batches import left_pad, ratings_input
from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.model import DirectRecommender
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.ranking import NO_ITEM
from recsys_kit.runner.context import RunContext
from recsys_kit.runner.occlusion import METHOD as OCCLUSION
from recsys_kit.runner.occlusion import occlusion_reasons
from recsys_kit.store import ResultStore

#: History items kept per recommendation by occlusion when the recipe does not say.
DEFAULT_OCCLUSION_TOP = 5


def explanation_method(ctx: RunContext, model: torch.nn.Module) -> str:
    """The method ``output.explain`` selects for ``model``: attention, occlusion or none
    (``auto``: attention where the fusion has it, none for direct recommenders such as
    popularity, else occlusion)."""
    wanted = ctx.loaded.recipe.output.explain
    attends = isinstance(model, PairwiseRecommender)
    if wanted == "attention" and not attends:
        raise RecsysKitError(
            "output.explain is 'attention' but the model has no target attention (model.fusion "
            f"is '{ctx.loaded.stage('model.fusion').spec.name}' or the user encoder scores by "
            "itself). Use output.explain: occlusion (any model), auto, or none.")
    if wanted != "auto":
        return wanted
    if attends:
        return "attention" if model.fusion.config.explain_top else "none"
    # Direct recommenders (popularity, mean ratings) score without looking at the history.
    return "none" if isinstance(model, DirectRecommender) else OCCLUSION


def write_explanations(
    ctx: RunContext, store: ResultStore, model: torch.nn.Module, data: SequenceData,
    histories: Sequence[np.ndarray], top: np.ndarray,
    ratings: Sequence[np.ndarray] | None, max_len: int,
) -> int:
    """Explain the stored recommendations ``top`` (users, K) as ``output.explain`` says;
    returns the number of rows written."""
    method = explanation_method(ctx, model)
    if method == "attention":
        assert isinstance(model, PairwiseRecommender)
        return write_attention(ctx, store, model, data, histories, top, ratings, max_len)
    if method == OCCLUSION:
        return write_occlusion(ctx, store, model, data, histories, top, ratings, max_len)
    return 0


def first_users(user_ids: np.ndarray, n: int | None) -> np.ndarray:
    """Indices of the first ``n`` users (all when None) in the order the TUI lists them:
    numeric ids by value, before the others by text."""
    if n is None:
        return np.arange(len(user_ids))
    ids = [str(u) for u in user_ids]

    def listed(i: int) -> tuple[bool, int, str, str]:  # numbers by value, without int()'s limit
        digits = ids[i].lstrip("0") if ids[i].isdigit() else ""
        return (not ids[i].isdigit(), len(digits), digits, ids[i])

    return np.sort(np.array(sorted(range(len(ids)), key=listed)[:n], dtype=np.int64))


def write_occlusion(
    ctx: RunContext, store: ResultStore, model: torch.nn.Module, data: SequenceData,
    histories: Sequence[np.ndarray], top: np.ndarray,
    ratings: Sequence[np.ndarray] | None, max_len: int,
) -> int:
    """Store, per recommendation of the first ``output.explain_users`` users (see
    :func:`first_users`), the history items whose removal lowers its score most (weight =
    the score drop, in the model's raw score)."""
    output = ctx.loaded.recipe.output
    users = first_users(data.user_ids, output.explain_users)
    started = time.perf_counter()
    reasons = occlusion_reasons(
        model, [histories[u] for u in users], top[users],
        keep=output.explain_top or DEFAULT_OCCLUSION_TOP, max_len=max_len,
        device=ctx.device, precision=ctx.loaded.recipe.train.precision,
        batch_rows=ctx.loaded.recipe.train.eval_batch_size,
        ratings=None if ratings is None else [ratings[u] for u in users])
    seconds = time.perf_counter() - started
    rows = [(u, r) for u, user_reasons in zip(users, reasons, strict=True) for r in user_reasons]
    out = {
        "user_id": data.user_ids[np.array([u for u, _ in rows], dtype=np.int64)].astype(object),
        "rank": np.array([r.rank for _, r in rows], dtype=np.int32),
        "history_item_id": data.item_ids[np.array([r.item for _, r in rows], dtype=np.int64)
                                         - 1].astype(object),
        "weight": np.array([r.weight for _, r in rows], dtype=np.float64),
    }
    store.write_explanations(ctx.run_id, out, method=OCCLUSION)
    if len(users):
        ctx.console.print(f"explained {len(users):,} users by occlusion in {seconds:.1f} s "
                          f"({1000 * seconds / len(users):.1f} ms/user)", highlight=False)
    return len(rows)


@torch.no_grad()
def write_attention(
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
    keep = ctx.loaded.recipe.output.explain_top or model.fusion.config.explain_top
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
