"""Assemble the model from its stages, train it, evaluate the best weights, store top-K."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import torch
from rich.markup import escape

from recsys_kit.columns import SPLIT_NAMES, TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation.context import EvalContext, evaluate_with
from recsys_kit.nn.batches import training_rows
from recsys_kit.nn.encoders.combine import ItemCombiner
from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.model import DirectRecommender, ModelShape, SequenceRecommender
from recsys_kit.nn.ranking.predict import predict_pairs
from recsys_kit.nn.ranking.rank import rank
from recsys_kit.nn.training import checkpoints
from recsys_kit.nn.training.trainer import Trainer
from recsys_kit.privacy.dp.training import check_model, private_training
from recsys_kit.ranking import NO_ITEM, Ranking, recommendations_mask_seen
from recsys_kit.runner.context import RunContext
from recsys_kit.runner.distributed import rank_shared
from recsys_kit.runner.explain import explanation_method, write_explanations
from recsys_kit.runner.memory import check_fits, estimate
from recsys_kit.runner.warm_start import source_run, warm_start
from recsys_kit.store import ResultStore

#: Per-epoch figures logged under split 'train'; the rest of an epoch's metrics are validation.
TRAIN_METRICS = {"loss", "epoch_seconds", "sequences_per_s", "eval_seconds", "epsilon"}
DEFAULT_MAX_LEN = 50
DEFAULT_DIM = 64


@dataclass
class ModelResult:
    """Test metrics of the best weights, and the epoch they came from."""

    test_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None


Model = SequenceRecommender | DirectRecommender


def build_model(ctx: RunContext, data: SequenceData) -> tuple[Model, int]:
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

    _check_memory(ctx, user, shape)
    encoder = make(user)
    shape.objective = getattr(encoder, "objective", shape.objective)
    if isinstance(encoder, DirectRecommender):
        encoder.fit(data)
        return encoder.to(ctx.device), max_len
    items = [make(s) for s in loaded.stage_list("model.encoders.item")]
    fusion = make(loaded.stage("model.fusion"))
    shape.fused_width = getattr(fusion, "width", dim)
    scorer = make(loaded.stage("model.scorer"))
    for unused in loaded.unused_params():
        ctx.console.print(f"[yellow]warning:[/] {escape(unused)}", highlight=False)
    combine = ItemCombiner(loaded.recipe.model.encoders.combine, len(items), dim)
    retrieval = make(loaded.stages["model.retrieval"]) if (
        "model.retrieval" in loaded.stages) else None
    _check_pairing(loaded, fusion, scorer, encoder, retrieval)
    if fusion.pairwise:
        model: SequenceRecommender = PairwiseRecommender(
            items, encoder, fusion, scorer, combine, data.n_items, retrieval,
            loaded.recipe.model.rerank_top_n)
    else:
        model = SequenceRecommender(items, encoder, fusion, scorer, combine)
    if model.uses_ratings and data.ratings is None:
        raise RecsysKitError(
            "model.scorer uses loss mse (rating prediction) but the data has no ratings. Map a "
            "rating column in data.ingest.params, or use loss: bce."
        )
    return model.to(ctx.device), max_len


def _check_memory(ctx: RunContext, user: Any, shape: ModelShape) -> None:
    """Refuse, before allocating, a model whose training cannot fit the device."""
    batch = ctx.loaded.recipe.train.batch_size
    tables = len(ctx.loaded.stage_list("model.encoders.item"))
    named = {k: getattr(user.config, k) for k in ("dim", "max_len", "layers", "heads")
             if hasattr(user.config, k)}
    settings = ", ".join(f"{k} (now {v:,})" for k, v in named.items())
    where = f"model.encoders.user.params {settings} or " if settings else ""
    check_fits(estimate(user, shape, batch, tables), ctx.device,
               f"{where}train.batch_size (now {batch:,})")


def _check_pairing(loaded: Any, fusion: Any, scorer: Any, encoder: Any, retrieval: Any) -> None:
    """Pairwise fusions need pairwise scorers (and the reverse); say which setting to change."""
    fusion_name = loaded.stage("model.fusion").spec.name
    scorer_name = loaded.stage("model.scorer").spec.name
    if fusion.pairwise != getattr(scorer, "pairwise", False):
        need = "a pairwise scorer such as mlp" if fusion.pairwise else "a scorer such as dot"
        raise RecsysKitError(
            f"model.fusion '{fusion_name}' needs {need}, but model.scorer is '{scorer_name}'. "
            "Use target_attention with mlp, or last_position with dot."
        )
    if fusion.pairwise and encoder.objective == "masked":
        raise RecsysKitError(
            f"model.fusion '{fusion_name}' attends over the history before each next item; "
            f"the user encoder '{loaded.stage('model.encoders.user').spec.name}' is trained on "
            "masked items. Use a next-item encoder (sasrec) or last_position fusion."
        )
    if retrieval is not None and not fusion.pairwise:
        raise RecsysKitError(
            "model.retrieval (two-stage ranking) re-ranks with a pairwise fusion; set "
            "model.fusion to target_attention (with scorer mlp), or remove model.retrieval."
        )
    if retrieval is not None and getattr(retrieval, "pairwise", False):
        raise RecsysKitError(
            f"model.retrieval is '{loaded.stage('model.retrieval').spec.name}', a pairwise "
            "scorer; the retrieval stage must score the whole catalogue at once. Use dot."
        )


def cold_items(data: SequenceData) -> np.ndarray:
    """Per token: True for items with no training or validation interaction."""
    seen = np.zeros(data.n_items + 2, dtype=bool)
    seen[data.items[data.split <= VALID]] = True
    seen[0] = seen[-1] = True
    return ~seen


def fit_and_evaluate(
    ctx: RunContext, data: SequenceData, store: ResultStore, stage_hook: Callable,
    result: ModelResult,
) -> None:
    """Train (unless the encoder needs none), test the best weights, write recommendations;
    ``result`` is filled in as it goes (the best epoch also when the run is stopped)."""
    recipe = ctx.loaded.recipe
    evaluators = [s.build() for s in ctx.loaded.stage_list("evaluate")]
    model, max_len = build_model(ctx, data)
    explanation_method(ctx, model)  # refuse an impossible output.explain before training
    shown_mask_seen = recommendations_mask_seen(evaluators)
    eval_k = max(getattr(e, "max_k", 1) for e in evaluators)
    rankers = [e for e in evaluators if getattr(e, "kind", "ranking") == "ranking"]
    raters = [e for e in evaluators if getattr(e, "kind", "ranking") == "rating"]
    if raters and data.ratings is None:
        raise RecsysKitError("The rating evaluator needs ratings and the data has none. Map a "
                             "rating column in data.ingest.params, or use the ranking evaluator.")
    uses_ratings = model.uses_ratings

    # Validation runs every epoch: slice the per-user histories and targets only once.
    histories, held_out = cache(data.sequences), cache(data.targets)
    history_ratings = cache(data.sequence_ratings)
    held_out_ratings = cache(data.target_ratings)
    common = {"max_len": max_len, "batch_size": recipe.train.eval_batch_size,
              "device": ctx.device, "precision": recipe.train.precision}

    def ranking(history_upto: int, target: int, k: int, everyone: bool = False,
                candidates: np.ndarray | None = None, mask_seen: bool = shown_mask_seen
                ) -> Ranking:
        targets = held_out(target)
        users = (np.arange(len(targets)) if everyone else
                 np.flatnonzero([len(t) for t in targets]))
        return rank_shared(ctx.ranks, lambda shard: rank(
            model, histories(history_upto), targets, k=k, users=shard, mask_seen=mask_seen,
            candidates=candidates,
            ratings=history_ratings(history_upto) if uses_ratings else None, **common), users)

    def predictions(history_upto: int, target: int):
        return predict_pairs(model, histories(history_upto), held_out(target),
                             held_out_ratings(target),
                             ratings=history_ratings(history_upto) if uses_ratings else None,
                             **common)

    def evaluate(history_upto: int, target: int, test_ranking: Ranking | None = None
                 ) -> tuple[dict[str, float], list]:
        results = []
        context = eval_context(model, data, SPLIT_NAMES[target])
        # One ranking per (mask_seen, cold candidates) that an evaluator asks for.
        rankings = {} if test_ranking is None else {(shown_mask_seen, False): test_ranking}
        for e in rankers:
            cold = target == TEST and getattr(e, "test_candidates", "all") == "cold"
            key = (getattr(e, "mask_seen", True), cold)
            if key not in rankings:
                rankings[key] = ranking(history_upto, target, eval_k, everyone=target == TEST,
                                        candidates=cold_items(data) if cold else None,
                                        mask_seen=key[0])
            results.append(evaluate_with(e, rankings[key], context))
        if raters:
            pairs = predictions(history_upto, target)
            results += [evaluate_with(e, pairs, context) for e in raters]
        return {k: v for res in results for k, v in res.metrics.items()}, results

    def validate() -> dict[str, float]:
        metrics = evaluate(TRAIN, VALID)[0]
        if recipe.train.monitor not in metrics:
            raise RecsysKitError(
                f"train.monitor is '{recipe.train.monitor}' but the evaluators reported "
                f"{', '.join(metrics) or 'nothing'}. Set train.monitor to one of those."
            )
        return metrics

    if recipe.train.privacy is not None:
        check_model(model)
    if recipe.train.init_from is not None:
        _warm_start(ctx, model, data)
    if isinstance(model, SequenceRecommender):
        rows = training_rows(histories(TRAIN), max_len, masked=model.masked,
                             ratings=history_ratings(TRAIN) if uses_ratings else None)
        if not len(rows["history"]):
            raise RecsysKitError("No user has two or more training interactions, so there is "
                                 "nothing to train on. Check the data and the split.")

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            store.log_metrics(ctx.run_id, "train", epoch,
                              {k: v for k, v in metrics.items() if k in TRAIN_METRICS})
            store.log_metrics(ctx.run_id, SPLIT_NAMES[VALID], epoch,
                              {k: v for k, v in metrics.items() if k not in TRAIN_METRICS})
            ctx.plugins.hook.after_epoch(run=ctx, epoch=epoch, metrics=metrics)

        checkpoint = ctx.artifacts_dir / checkpoints.BEST
        trainer = Trainer(
            model, recipe.train, ctx.device, checkpoint,
            validate=validate,
            on_epoch=on_epoch, console=ctx.console,
            before_epoch=lambda epoch: ctx.plugins.hook.before_epoch(run=ctx, epoch=epoch),
            private=private_training(recipe.train, model, rows, max_len, ctx.console),
            ranks=ctx.ranks, seed=recipe.seed,
        )
        if ctx.attempt > 1 and trainer.resume():
            ctx.console.print(f"resuming after epoch {trainer.progress.epoch}", highlight=False)
        done = stage_hook("train", ctx.loaded.stage("model.encoders.user").spec.name)
        try:
            trainer.fit(rows)
        except BaseException:  # the run can resume from the training state it kept
            if trainer.last.exists():
                store.add_artifact(ctx.run_id, "last", "checkpoint", trainer.last)
            raise
        finally:  # also when stopped: the run row names the weights it kept
            result.best_epoch = trainer.progress.best_epoch
            if checkpoint.exists():
                store.add_artifact(ctx.run_id, "best", "checkpoint", checkpoint)
        done()
    done = stage_hook("evaluate", "test")
    top_k = recipe.output.top_k
    test = ranking(VALID, TEST, max(eval_k, top_k), everyone=True)
    result.test_metrics, per_evaluator = evaluate(VALID, TEST, test)
    if not ctx.ranks.is_main:  # every rank computed the metrics; rank 0 writes them
        done()
        return
    store.log_metrics(ctx.run_id, SPLIT_NAMES[TEST], None, result.test_metrics)
    _write_per_user(ctx, store, data, per_evaluator)
    top, interest = _recommended(model, test, top_k, recipe.output.threshold)
    store.write_recommendations(  # empty slots (NO_ITEM) score -inf and are not stored
        ctx.run_id, data.user_ids, data.item_ids[np.maximum(top - 1, 0)], interest,
    )
    write_explanations(ctx, store, model, data, histories(VALID), top,
                       history_ratings(VALID) if uses_ratings else None, max_len)
    done()


def _warm_start(ctx: RunContext, model: Model, data: SequenceData) -> None:
    """Begin from ``train.init_from``'s weights (a resumed run then loads its own state)."""
    name = ctx.loaded.stage("model.encoders.user").spec.name
    if not isinstance(model, SequenceRecommender):
        raise RecsysKitError(f"train.init_from is set, but the user encoder '{name}' is fitted "
                             "from the data, not trained: it has no weights to start from. "
                             "Remove train.init_from.")
    source = source_run(ctx.loaded.recipe.train.init_from or "", ctx.out_dir)
    ctx.console.print(warm_start(model, data, source).describe(), highlight=False)


def eval_context(model: Model, data: SequenceData, split: str) -> EvalContext:
    """What evaluators get besides the ranking; the item table only when one asks for it."""

    @torch.no_grad()
    def vectors() -> np.ndarray | None:
        if not isinstance(model, SequenceRecommender):
            return None
        model.eval()
        return model.item_table().float().cpu().numpy()

    return EvalContext(split, data.item_ids, data.train_counts(), data.item_side,
                       data.item_features, vectors)


def _recommended(
    model: Model, test: Ranking, top_k: int, threshold: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-K tokens and their interest values; NO_ITEM and -inf where below the threshold."""
    top = test.items[:, :top_k]
    scores = torch.from_numpy(np.ascontiguousarray(test.scores[:, :top_k]))
    interest = model.interest(scores).numpy()
    interest = np.where(np.isneginf(scores.numpy()), -np.inf, interest)
    if threshold is not None:
        interest = np.where(interest > threshold, interest, -np.inf)
    return np.where(np.isneginf(interest), NO_ITEM, top), interest


def _write_per_user(ctx: RunContext, store: ResultStore, data: SequenceData, results: list) -> None:
    """Per-user test metrics as a Parquet artifact (query it with read_parquet)."""
    frames = []
    for res in results:
        if res.per_user:
            frames.append((res.users, {k.replace("@", "_at_"): v for k, v in res.per_user.items()}))
    if not frames:
        return
    users = np.unique(np.concatenate([u for u, _ in frames]))
    columns: dict[str, np.ndarray] = {}
    for rows, values in frames:  # evaluators may cover different users (ranking vs rating)
        at = np.searchsorted(users, rows)
        for name, v in values.items():
            column = np.full(len(users), np.nan)
            column[at] = v
            columns[name] = column
    per_user = {"user_id": data.user_ids[users].astype(object), **columns}  # noqa: F841
    path = ctx.artifacts_dir / "per_user_test_metrics.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM per_user) TO '{_sql_path(path)}' (FORMAT parquet)")
    store.add_artifact(ctx.run_id, "per_user_test_metrics", "parquet", path)


def _sql_path(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
