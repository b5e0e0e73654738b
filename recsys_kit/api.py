"""The one module a plugin author imports: ``from recsys_kit.api import ...``.

Everything a stage plugin or a lifecycle-hook plugin needs is here, and nothing here moves
without notice; the modules it comes from are recsys-kit's own business. Importing this module
does not import torch: the names backed by torch (the model-stage base classes and
``ModelShape``) and by DuckDB (``DataContext``, ``RunContext``) are loaded on first use, so a
plugin's ``stages.py`` can import from here and `recsys-kit validate` stays fast.

Registration (see ``docs/writing-plugins.md``)
    ``hookimpl``       marker for hook implementations (``register_stages``, lifecycle hooks).
    ``StageSpec``      what ``register_stages`` returns: family, name, config model, factory,
                       description (distribution and version are filled in).
    ``StageConfig``    base of every params model: unknown keys are errors, frozen, finite.
    ``NoParams``       params model of a stage that takes none.
    ``Family``         the stage families: INGEST, SPLIT, TOKENIZE, USER_ENCODER,
                       ITEM_ENCODER, FUSION, SCORER, EVALUATOR.

Data stages (``factory(config)``, object with ``run(ctx)`` / ``run(ctx, data)``)
    ``DataContext``    ``con`` (in-memory DuckDB), ``seed``, ``report(stage, message)``.
    ``SequenceData``   what tokenizers return: every user's item tokens with split labels.
    Table names ``INTERACTIONS``, ``ITEMS``, ``SPLIT_INTERACTIONS``; split labels ``TRAIN``,
    ``VALID``, ``TEST`` (``SPLIT_NAMES`` maps them to ``train``, ``valid``, ``test``); column
    names ``USER_ID``, ``ITEM_ID``, ``TS``, ``RATING``, ``WEIGHT``, ``ROW_NO``, ``SPLIT``,
    ``RANK``, ``SCORE``.

Model stages (``factory(config, shape)`` returning an ``nn.Module``; torch, lazy)
    ``ModelShape``     vocabulary size, width, history length, item side data, device.
    ``ItemEncoder``, ``UserEncoder``, ``DirectRecommender``, ``Fusion``, ``Scorer``: base
    classes; the methods to implement are listed on each.

Evaluators (``factory(config)``, object with ``evaluate(...)``)
    ``Ranking``        top-K tokens and scores per user with the held-out targets;
                       ``NO_ITEM`` fills a slot where a user had fewer than K unseen items.
    ``PairPredictions``  held-out (user, item) pairs with predicted and true ratings.
    ``EvalContext``    what ``evaluate(ranking, context)`` also gets: split, catalogue size,
                       item ids, training popularity, item side data and item vectors.
    ``EvalResult``     what ``evaluate`` returns: mean metrics, per-user values, users.

Lifecycle hooks
    ``RunContext``     ``run_id``, ``recipe`` (effective, as a mapping), ``seed``, ``device``,
                       ``out_dir``, ``artifacts_dir``, ``cache_dir``, ``console``, ``attempt``.

Errors (raise these for bad input: the user sees one paragraph, no traceback)
    ``RecsysKitError`` (base), ``RecipeError`` with ``RecipeIssue``s, ``DataError``,
    ``PluginError``, ``StoreError``, ``NonFiniteError``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recsys_kit.columns import (
    INTERACTIONS,
    ITEM_ID,
    ITEMS,
    RANK,
    RATING,
    ROW_NO,
    SCORE,
    SPLIT,
    SPLIT_INTERACTIONS,
    SPLIT_NAMES,
    TEST,
    TRAIN,
    TS,
    USER_ID,
    VALID,
    WEIGHT,
)
from recsys_kit.data import SequenceData
from recsys_kit.errors import (
    DataError,
    NonFiniteError,
    PluginError,
    RecipeError,
    RecipeIssue,
    RecsysKitError,
    StoreError,
)
from recsys_kit.evaluation.context import EvalContext
from recsys_kit.evaluation.result import EvalResult
from recsys_kit.hookspecs import hookimpl
from recsys_kit.predictions import PairPredictions
from recsys_kit.ranking import NO_ITEM, Ranking
from recsys_kit.stages import Family, NoParams, StageConfig, StageSpec

if TYPE_CHECKING:
    from recsys_kit.nn.model import (
        DirectRecommender,
        Fusion,
        ItemEncoder,
        ModelShape,
        Scorer,
        UserEncoder,
    )
    from recsys_kit.runner.context import DataContext, RunContext

#: Names loaded on first use, and the module each comes from (torch or DuckDB behind them).
LAZY: dict[str, str] = {
    "ItemEncoder": "recsys_kit.nn.model",
    "UserEncoder": "recsys_kit.nn.model",
    "DirectRecommender": "recsys_kit.nn.model",
    "Fusion": "recsys_kit.nn.model",
    "Scorer": "recsys_kit.nn.model",
    "ModelShape": "recsys_kit.nn.model",
    "DataContext": "recsys_kit.runner.context",
    "RunContext": "recsys_kit.runner.context",
}

__all__ = [
    "INTERACTIONS", "ITEMS", "ITEM_ID", "NO_ITEM", "RANK", "RATING", "ROW_NO", "SCORE",
    "SPLIT", "SPLIT_INTERACTIONS", "SPLIT_NAMES", "TEST", "TRAIN", "TS", "USER_ID", "VALID",
    "WEIGHT", "DataContext", "DataError", "DirectRecommender", "EvalContext", "EvalResult",
    "Family",
    "Fusion", "ItemEncoder", "ModelShape", "NoParams", "NonFiniteError", "PairPredictions",
    "PluginError", "Ranking", "RecipeError", "RecipeIssue", "RecsysKitError", "RunContext",
    "Scorer", "SequenceData", "StageConfig", "StageSpec", "StoreError", "UserEncoder",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    """Load a torch- or DuckDB-backed name the first time it is used."""
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recsys_kit.api' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
