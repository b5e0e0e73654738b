"""Whole-recipe checks: rules that span sections, each a plain function.

Each check names the top-level sections it reads (``NEEDS``); it runs whenever those sections
(and their stages) validated, even when other parts of the recipe did not, so that every error
shows at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from recsys_kit.privacy.checks import drop_columns_are_possible, private_training_has_no_baselines

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


def direct_recommender_alone(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """A user encoder that recommends by itself ignores item encoders, fusion and scorer:
    setting them would look as if they were used."""
    user = loaded.stages.get("model.encoders.user")
    if user is None or not user.spec.direct:
        return
    model = loaded.recipe.model
    given = [("model", name) for name in ("fusion", "scorer", "retrieval")
             if name in model.model_fields_set]
    if "item" in model.encoders.model_fields_set:
        given.insert(0, ("model", "encoders", "item"))
    for loc in given:
        yield loc, (
            f"'{user.spec.name}' (model.encoders.user) recommends by itself and does not use "
            f"{'.'.join(map(str, loc))}. Remove {'.'.join(map(str, loc))} from the recipe, or "
            "use a sequence encoder such as sasrec."
        )


def first_tokenizer_builds_ids(loaded: LoadedRecipe) -> Iterator[tuple[Loc, str]]:
    """The item vocabulary must come first: every later stage refers to item tokens."""
    tokenizers = loaded.recipe.data.tokenize
    if not tokenizers or tokenizers[0].plugin != "item_ids":
        yield ("data", "tokenize"), "the first tokenizer must be `item_ids` (the item vocabulary)."


#: Every check, with the top-level sections it reads.
NEEDS: dict[Check, tuple[str, ...]] = {
    monitor_is_evaluated: ("train", "evaluate"),
    metrics_are_unique: ("evaluate",),
    rerank_covers_top_k: ("model", "output", "evaluate"),
    direct_recommender_alone: ("model",),
    first_tokenizer_builds_ids: ("data",),
    drop_columns_are_possible: ("data", "model", "privacy"),
    private_training_has_no_baselines: ("train", "baselines"),
}


def check_recipe(
    loaded: LoadedRecipe, valid: Callable[[str], bool] = lambda section: True
) -> Iterator[tuple[Loc, str]]:
    """Run every whole-recipe check whose sections are ``valid``."""
    for check, sections in NEEDS.items():
        if all(valid(section) for section in sections):
            yield from check(loaded)
