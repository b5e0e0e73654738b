"""The plugin's entry point: recsys-kit lifecycle hooks that log each run to MLflow.

recsys-kit imports this module with every command, so it imports no MLflow (a few seconds)
and does nothing unless ``MLFLOW_TRACKING_URI`` is set; ``tracking.py`` does the MLflow part
when a run starts. A tracking problem never changes a run's outcome: it is reported once on
the run's console and that run's logging stops.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from recsys_kit.api import hookimpl
from recsys_kit_mlflow.names import epoch_metrics

if TYPE_CHECKING:
    from recsys_kit.api import RunContext
    from recsys_kit_mlflow.tracking import MlflowRun

#: The MLflow run of each recsys-kit run in progress in this process, by recsys-kit run id.
ACTIVE: dict[str, MlflowRun] = {}


def _warn(run: RunContext, what: str, exc: BaseException) -> None:
    run.console.print(
        f"[yellow]warning:[/] MLflow logging of run {run.run_id} stopped: {what} failed "
        f"({type(exc).__name__}: {' '.join(str(exc).split())[:400]}). The run itself goes on "
        "and its results are in the results file. Check MLFLOW_TRACKING_URI"
        f" ({os.environ.get('MLFLOW_TRACKING_URI')}); a file: store needs "
        "MLFLOW_ALLOW_FILE_STORE=true with MLflow 3.", highlight=False)


def _guarded(run: RunContext, what: str, action: Any) -> None:
    """Run ``action`` on the run's MLflow run; on failure, warn and stop logging the run."""
    mlflow_run = ACTIVE.get(run.run_id)
    if mlflow_run is None:
        return
    try:
        action(mlflow_run)
    except Exception as exc:
        ACTIVE.pop(run.run_id, None)
        _warn(run, what, exc)


@hookimpl
def before_run(run: RunContext) -> None:
    """Start (or, for a resumed run, reopen) the run's MLflow run and log the recipe as
    params, when ``MLFLOW_TRACKING_URI`` is set."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return
    try:
        from recsys_kit_mlflow.tracking import MlflowRun

        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or run.recipe["name"].split(":")[0]
        ACTIVE[run.run_id] = MlflowRun.start(uri, experiment, run.run_id, run.recipe["name"],
                                             run.recipe, run.attempt)
    except Exception as exc:
        _warn(run, "starting the MLflow run", exc)


@hookimpl(tryfirst=True)
def after_epoch(run: RunContext, epoch: int, metrics: dict[str, Any]) -> None:
    """Log the epoch's training loss and validation metrics at step ``epoch``.

    Called before other plugins' ``after_epoch``: one that stops the run there (raising a
    stop request) must not keep this epoch out of MLflow, as it is in the results file.
    """
    _guarded(run, "logging epoch metrics",
             lambda mlflow_run: mlflow_run.log_metrics(epoch_metrics(metrics), step=epoch))


@hookimpl
def after_run(run: RunContext, status: str, metrics: dict[str, float]) -> None:
    """Log the final test metrics and the artifacts, and end the MLflow run (``FINISHED``,
    or ``KILLED`` for an interrupted run, which a resume reopens)."""
    _guarded(run, "finishing the MLflow run", lambda mlflow_run: mlflow_run.finish(
        status, metrics, run.recipe, run.artifacts_dir))
    ACTIVE.pop(run.run_id, None)


@hookimpl
def on_error(run: RunContext, error: BaseException) -> None:
    """End the MLflow run as ``FAILED``, with the error as a tag."""
    _guarded(run, "ending the failed MLflow run", lambda mlflow_run: mlflow_run.finish(
        "failed", {}, run.recipe, None, error=f"{type(error).__name__}: {error}"))
    ACTIVE.pop(run.run_id, None)
