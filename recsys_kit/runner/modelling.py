"""Assemble the model from its stages, train it, evaluate the best weights, store top-K."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import torch

from recsys_kit.columns import SPLIT_NAMES, TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.batches import training_rows
from recsys_kit.nn.combine import ItemCombiner
from recsys_kit.nn.model import DirectRecommender, ModelShape, SequenceRecommender
from recsys_kit.nn.rank import rank
from recsys_kit.nn.train import Trainer
from recsys_kit.ranking import Ranking
from recsys_kit.runner.context import RunContext
from recsys_kit.store import ResultStore

#: Per-epoch figures logged under split 'train'; the rest of an epoch's metrics are validation.
TRAIN_METRICS = {"loss", "epoch_seconds", "sequences_per_s", "eval_seconds"}
DEFAULT_MAX_LEN = 50
DEFAULT_DIM = 64


@dataclass
class ModelResult:
    """Test metrics of the best weights, and the epoch they came from."""

    test_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None


def build_model(ctx: RunContext, data: SequenceData) -> tuple[torch.nn.Module, int]:
    """Build user encoder, item encoders, fusion and scorer; return the model and max_len."""
    loaded = ctx.loaded
    user = loaded.stage("model.encoders.user")
    dim = getattr(user.config, "dim", DEFAULT_DIM)
    max_len = getattr(user.config, "max_len", DEFAULT_MAX_LEN)
    shape = ModelShape.of(data, dim=dim, max_len=max_len, device=ctx.device,
                          cache_dir=ctx.cache_dir,
                          report=lambda line: ctx.console.print(line, highlight=False))

    def make(stage):
        return stage.spec.build(stage.config, shape)

    encoder = make(user)
    if isinstance(encoder, DirectRecommender):
        encoder.fit(data)
        return encoder.to(ctx.device), max_len
    items = [make(s) for s in loaded.stage_list("model.encoders.item")]
    model = SequenceRecommender(
        items=items,
        user=encoder,
        fusion=make(loaded.stage("model.fusion")),
        scorer=make(loaded.stage("model.scorer")),
        combine=ItemCombiner(loaded.recipe.model.encoders.combine, len(items), dim),
    )
    return model.to(ctx.device), max_len


def fit_and_evaluate(
    ctx: RunContext, data: SequenceData, store: ResultStore, stage_hook: Callable
) -> ModelResult:
    """Train (unless the encoder needs none), test the best weights, write recommendations."""
    recipe = ctx.loaded.recipe
    evaluators = [s.build() for s in ctx.loaded.stage_list("evaluate")]
    model, max_len = build_model(ctx, data)
    mask_seen = all(getattr(e, "mask_seen", True) for e in evaluators)
    eval_k = max(getattr(e, "max_k", 1) for e in evaluators)

    # Validation ranks every epoch: slice the per-user histories and targets only once.
    histories, held_out = cache(data.sequences), cache(data.targets)

    def ranking(history_upto: int, target: int, k: int, everyone: bool = False) -> Ranking:
        targets = held_out(target)
        users = None if everyone else np.flatnonzero([len(t) for t in targets])
        return rank(model, histories(history_upto), targets, k=k, users=users,
                    max_len=max_len, batch_size=recipe.train.eval_batch_size,
                    device=ctx.device, precision=recipe.train.precision, mask_seen=mask_seen)

    def validate() -> dict[str, float]:
        metrics = evaluate(ranking(TRAIN, VALID, eval_k))[0]
        if recipe.train.monitor not in metrics:
            raise RecsysKitError(
                f"train.monitor is '{recipe.train.monitor}' but the evaluators reported "
                f"{', '.join(metrics) or 'nothing'}. Set train.monitor to one of those."
            )
        return metrics

    def evaluate(r: Ranking) -> tuple[dict[str, float], list]:
        results = [e.evaluate(r) for e in evaluators]
        return {k: v for res in results for k, v in res.metrics.items()}, results

    result = ModelResult()
    if isinstance(model, SequenceRecommender):
        rows = training_rows(histories(TRAIN), max_len, masked=model.masked)
        if not len(rows["history"]):
            raise RecsysKitError("No user has two or more training interactions, so there is "
                                 "nothing to train on. Check the data and the split.")

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            store.log_metrics(ctx.run_id, "train", epoch,
                              {k: v for k, v in metrics.items() if k in TRAIN_METRICS})
            store.log_metrics(ctx.run_id, SPLIT_NAMES[VALID], epoch,
                              {k: v for k, v in metrics.items() if k not in TRAIN_METRICS})
            ctx.plugins.hook.after_epoch(run=ctx, epoch=epoch, metrics=metrics)

        checkpoint = ctx.artifacts_dir / "best.safetensors"
        trainer = Trainer(
            model, recipe.train, ctx.device, checkpoint,
            validate=validate,
            on_epoch=on_epoch, console=ctx.console,
            before_epoch=lambda epoch: ctx.plugins.hook.before_epoch(run=ctx, epoch=epoch),
        )
        done = stage_hook("train", ctx.loaded.stage("model.encoders.user").spec.name)
        try:
            trained = trainer.fit(rows)
        except KeyboardInterrupt:
            store.add_artifact(ctx.run_id, "best", "checkpoint", checkpoint)
            raise
        done()
        result.best_epoch = trained.best_epoch
        store.add_artifact(ctx.run_id, "best", "checkpoint", checkpoint)
    done = stage_hook("evaluate", "test")
    top_k = recipe.output.top_k
    test = ranking(VALID, TEST, max(eval_k, top_k), everyone=True)
    result.test_metrics, per_evaluator = evaluate(test)
    store.log_metrics(ctx.run_id, SPLIT_NAMES[TEST], None, result.test_metrics)
    _write_per_user(ctx, store, data, per_evaluator)
    top = test.items[:, :top_k]
    store.write_recommendations(  # empty slots (NO_ITEM) score -inf and are not stored
        ctx.run_id, data.user_ids, data.item_ids[np.maximum(top - 1, 0)], test.scores[:, :top_k],
    )
    done()
    return result


def _write_per_user(ctx: RunContext, store: ResultStore, data: SequenceData, results: list) -> None:
    """Per-user test metrics as a Parquet artifact (query it with read_parquet)."""
    columns: dict[str, np.ndarray] = {}
    users = None
    for res in results:
        users = data.user_ids[res.users] if users is None else users
        columns.update({k.replace("@", "_at_"): v for k, v in res.per_user.items()})
    if users is None or not columns:
        return
    per_user = {"user_id": users.astype(object), **columns}  # noqa: F841 - DuckDB scans it
    path = ctx.artifacts_dir / "per_user_test_metrics.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM per_user) TO '{_sql_path(path)}' (FORMAT parquet)")
    store.add_artifact(ctx.run_id, "per_user_test_metrics", "parquet", path)


def _sql_path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
