"""Turning a recipe and recsys-kit's metrics into MLflow params and metric names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: MLflow's limit on a param value's length (MLflow >= 2.x).
MAX_PARAM_LENGTH = 6000
#: Metrics recsys-kit reports per epoch about training itself (the rest are validation).
TRAIN_KEYS = {"loss", "epoch_seconds", "sequences_per_s", "eval_seconds"}
TRUNCATED = "... (truncated; the whole recipe is the artifact recipe.yaml)"


def flatten(recipe: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every leaf of ``recipe`` as (dotted path, value as text); list items by index
    (``data.tokenize.0.plugin``). Empty mappings and lists are leaves (``{}``, ``[]``)."""
    items: Any = recipe.items() if isinstance(recipe, Mapping) else enumerate(recipe)
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping | list) and value:
            yield from flatten(value, f"{path}.")
        else:
            yield path, _text(value)


def _text(value: Any) -> str:
    """A leaf as MLflow stores it: text, JSON for non-strings, cut to MLflow's limit with a
    marker (so a cut value never looks whole)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > MAX_PARAM_LENGTH:
        text = text[: MAX_PARAM_LENGTH - len(TRUNCATED)] + TRUNCATED
    return text


def metric_name(split: str, key: str) -> str:
    """``('valid', 'ndcg@10')`` -> ``'valid/ndcg_at_10'``: MLflow names allow no ``@``."""
    name = re.sub(r"[^\w.\- :/]", "_", key.replace("@", "_at_"))
    return f"{split}/{name}"


def epoch_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """An epoch's metrics named for MLflow: ``train/loss``, ``valid/ndcg_at_10``, ..."""
    return {metric_name("train" if key in TRAIN_KEYS else "valid", key): float(value)
            for key, value in metrics.items() if isinstance(value, int | float)}
