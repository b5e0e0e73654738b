"""Every hook recsys-kit calls, grouped by phase.

Plugins implement these with ``@hookimpl`` (``from recsys_kit import hookimpl``) in a module
named under the ``recsys_kit`` entry-point group. Built-in stages use exactly the same door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from recsys_kit.runner.context import RunContext
    from recsys_kit.stages import StageSpec

PROJECT = "recsys_kit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration ---------------------------------------------------------------------------


@hookspec
def register_stages() -> list[StageSpec]:
    """Return the stages this plugin adds.

    Called once when the plugin manager is built. Every result list is merged into one
    registry; two stages of the same family and name are a clash naming both distributions,
    which stops `run`, `validate` and `schema`.
    """


# -- run lifecycle ----------------------------------------------------------------------------


@hookspec
def before_run(run: RunContext) -> None:
    """Called once a run has its id, device and seed, before any stage runs.

    ``run.recipe`` is the effective recipe; ``run.run_id`` names the row in ``runs``.
    """


@hookspec
def after_run(run: RunContext, status: str, metrics: dict[str, float]) -> None:
    """Called when a run ends with status ``completed`` or ``interrupted``.

    ``metrics`` holds the final test metrics keyed like ``ndcg@10`` (empty when interrupted).
    """


@hookspec
def on_error(run: RunContext, error: BaseException) -> None:
    """Called when a run fails, after its row is marked ``failed``.

    Must not raise; the run's own error is what the user sees.
    """


@hookspec
def before_stage(run: RunContext, family: str, name: str) -> None:
    """Called before the stage ``name`` of ``family`` (ingest, split, train, evaluate, ...) runs."""


@hookspec
def after_stage(run: RunContext, family: str, name: str, seconds: float) -> None:
    """Called after the stage ``name`` of ``family`` finished, with its wall time in seconds."""


# -- training ---------------------------------------------------------------------------------


@hookspec
def before_epoch(run: RunContext, epoch: int) -> None:
    """Called before training epoch ``epoch`` (counted from 1)."""


@hookspec
def after_epoch(run: RunContext, epoch: int, metrics: dict[str, Any]) -> None:
    """Called after epoch ``epoch`` with its training loss and validation metrics.

    ``metrics`` holds ``loss`` and the validation metrics keyed like ``ndcg@10``.
    """
