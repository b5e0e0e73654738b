"""Pytest fixtures for plugin authors, registered as a pytest plugin (``pytest11`` entry point).

Installing recsys-kit makes them available in every test session; nothing to load.

- ``isolated_plugins``: a fresh plugin manager with every installed plugin.
- ``tiny_recipe``: a small synthetic recipe mapping, fast on a CPU, writing into ``tmp_path``.
- ``run_recipe``: runs a recipe mapping end to end and returns (outcomes, results store).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from recsys_kit.plugins import Plugins, make_plugins
from recsys_kit.recipe.loader import LoadedRecipe, validate_mapping
from recsys_kit.recipe.yaml_lines import apply_override

TINY_RECIPE: dict[str, Any] = {
    "version": 1,
    "name": "tiny",
    "seed": 7,
    "device": "cpu",
    "data": {
        "ingest": {"plugin": "synthetic",
                   "params": {"n_users": 120, "n_items": 60, "min_len": 8, "max_len": 16}},
        "split": {"plugin": "leave_one_out"},
        "tokenize": [{"plugin": "item_ids"}],
    },
    "model": {
        "encoders": {"user": {"plugin": "sasrec",
                              "params": {"layers": 1, "heads": 1, "dim": 16, "max_len": 16}}},
    },
    "train": {"epochs": 2, "batch_size": 32, "patience": 2},
    "evaluate": [{"plugin": "ranking", "params": {"k": [5, 10]}}],
    "output": {"top_k": 5},
}


def tiny(out_dir: Path, *overrides: str) -> dict[str, Any]:
    """A copy of the tiny recipe writing into ``out_dir``, with ``path=value`` overrides."""
    recipe = copy.deepcopy(TINY_RECIPE)
    recipe["output"]["dir"] = str(out_dir)
    for item in overrides:
        apply_override(recipe, item)
    return recipe


@pytest.fixture
def isolated_plugins() -> Plugins:
    """A plugin manager of its own, with every installed (entry-point) plugin."""
    return make_plugins()


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> dict[str, Any]:
    """The tiny synthetic recipe, writing results under ``tmp_path/runs``."""
    return tiny(tmp_path / "runs")


@pytest.fixture
def run_recipe(isolated_plugins: Plugins) -> Callable[..., Any]:
    """Run a recipe mapping; returns ``(outcomes, store)``. Raises a failed run's error."""
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore

    def _run(recipe: dict[str, Any], overrides: Sequence[str] = ()) -> tuple[list, Any]:
        recipe = copy.deepcopy(recipe)
        for item in overrides:
            apply_override(recipe, item)
        loaded: LoadedRecipe = validate_mapping(recipe, isolated_plugins.registry)
        outcomes = Runner(isolated_plugins, Console(quiet=True)).run(loaded)
        if outcomes[0].error is not None:
            raise outcomes[0].error
        return outcomes, ResultStore.in_dir(loaded.recipe.output.dir)

    return _run
