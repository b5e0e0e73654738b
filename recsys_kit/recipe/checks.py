"""Whole-recipe checks: rules that span sections, each a plain function."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from recsys_kit.privacy.checks import PRIVACY_CHECKS

if TYPE_CHECKING:
    from recsys_kit.recipe.loader import LoadedRecipe

Loc = tuple[str | int, ...]
Check = Callable[["LoadedRecipe"], Iterator[tuple[Loc, str]]]


def monitor_is_evaluated(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """`train.monitor` must be a metric that one of the evaluators computes.

    Evaluators declare their metrics with ``config.metric_names()``; one that does not is
    trusted to compute the monitor. When the evaluators report no metric at all, nothing could
    be monitored (nor tested).
    """
    monitor = loaded.recipe.train.monitor
    produced: set[str] = set()
    for stage in loaded.stage_list("evaluate"):
        names = getattr(stage.config, "metric_names", None)
        if not callable(names):
            return
        produced.update(names())
    if not produced:
        yield ("evaluate",), (
            f"no evaluator reports any metric, so '{monitor}' (train.monitor) cannot be watched "
            "and nothing is tested. Add one, e.g. `evaluate: [{plugin: ranking}]`."
        )
    elif monitor not in produced:
        yield ("train", "monitor"), (
            f"'{monitor}' is not computed by any evaluator. "
            f"Choose one of: {', '.join(sorted(produced))}."
        )


def metrics_are_unique(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """Two evaluators must not report the same metric name: one would overwrite the other."""
    seen: dict[str, int] = {}
    for i, stage in enumerate(loaded.stage_list("evaluate")):
        names = getattr(stage.config, "metric_names", None)
        clash = [n for n in (names() if callable(names) else []) if n in seen]
        if clash:
            yield ("evaluate", i), (
                f"reports {', '.join(clash)} like evaluate[{seen[clash[0]]}], and one would "
                "overwrite the other. Give them different metrics or k, or run two recipes."
            )
        for name in names() if callable(names) else []:
            seen.setdefault(name, i)


def rerank_covers_top_k(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """Two-stage ranking ranks only ``rerank_top_n`` items: they must cover every cut-off."""
    model = loaded.recipe.model
    if model.retrieval is None:
        return
    cutoffs = [loaded.recipe.output.top_k]
    for stage in loaded.stage_list("evaluate"):
        cutoffs += list(getattr(stage.config, "k", []))
    if model.rerank_top_n < max(cutoffs):
        yield ("model", "rerank_top_n"), (
            f"{model.rerank_top_n} candidates per user cannot fill a top-{max(cutoffs)} "
            f"(output.top_k and the evaluators' k). Set rerank_top_n to at least {max(cutoffs)}."
        )


def first_tokenizer_builds_ids(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """The item vocabulary must come first: every later stage refers to item tokens."""
    tokenizers = loaded.recipe.data.tokenize
    if not tokenizers or tokenizers[0].plugin != "item_ids":
        yield ("data", "tokenize"), "the first tokenizer must be `item_ids` (the item vocabulary)."


CHECKS: tuple[Check, ...] = (monitor_is_evaluated, metrics_are_unique, rerank_covers_top_k,
                             first_tokenizer_builds_ids, *PRIVACY_CHECKS)


def check_recipe(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """Run every whole-recipe check."""
    for check in CHECKS:
        yield from check(loaded)
