"""recsys-kit: declarative, plugin-based user-interest prediction with transformer models.

Plugins import what they need from :mod:`recsys_kit.api`::

    from recsys_kit.api import hookimpl, StageSpec

Load a trained run and recommend from it with :func:`load_run`::

    run = recsys_kit.load_run("latest", results="runs/results.duckdb")
    run.recommend(user="42", k=10)

Notebooks run recipes and read their results as data frames (:mod:`recsys_kit.notebook`)::

    outcomes = recsys_kit.run_recipe("recipes/quickstart.yaml", overrides=["train.epochs=5"])
    recsys_kit.open_results("runs").metrics(split="test")

Importing the package stays cheap: it loads pluggy's markers only, not torch (``load_run``,
``run_recipe`` and ``open_results`` are imported on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

from recsys_kit.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

#: Attributes imported on first use, and the module each comes from.
LAZY = {
    "load_run": "recsys_kit.serving.loading",
    "run_recipe": "recsys_kit.notebook",
    "open_results": "recsys_kit.notebook",
}

__all__ = ["__version__", "hookimpl", "hookspec", "load_run", "open_results", "run_recipe"]


def __getattr__(name: str) -> Any:
    """Lazy attributes: serving and the notebook API (they import torch or pandas)."""
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recsys_kit' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
