"""recsys-kit: declarative, plugin-based user-interest prediction with transformer models.

Plugins mark their hook implementations with :data:`hookimpl`::

    from recsys_kit import hookimpl

Load a trained run and recommend from it with :func:`load_run`::

    run = recsys_kit.load_run("latest", results="runs/results.duckdb")
    run.recommend(user="42", k=10)

Importing the package stays cheap: it loads pluggy's markers only, not torch (``load_run`` is
imported on first use).
"""

from __future__ import annotations

from typing import Any

from recsys_kit.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "hookspec", "load_run"]


def __getattr__(name: str) -> Any:
    """Lazy attributes: ``load_run`` (it imports torch)."""
    if name == "load_run":
        from recsys_kit.serving.loading import load_run

        return load_run
    raise AttributeError(f"module 'recsys_kit' has no attribute '{name}'")
