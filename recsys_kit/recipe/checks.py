"""Whole-recipe checks: rules that span sections, each a plain function."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

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


def first_tokenizer_builds_ids(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """The item vocabulary must come first: every later stage refers to item tokens."""
    tokenizers = loaded.recipe.data.tokenize
    if not tokenizers or tokenizers[0].plugin != "item_ids":
        yield ("data", "tokenize"), "the first tokenizer must be `item_ids` (the item vocabulary)."


CHECKS: tuple[Check, ...] = (monitor_is_evaluated, first_tokenizer_builds_ids)


def check_recipe(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """Run every whole-recipe check."""
    for check in CHECKS:
        yield from check(loaded)
