"""One recsys-kit run as one MLflow run, with MLflow's own tracking client (imported here
only, when a run starts with ``MLFLOW_TRACKING_URI`` set)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from recsys_kit_mlflow.names import flatten, metric_name

#: Tag holding the recsys-kit run id: a resumed run finds its MLflow run by it.
RUN_ID_TAG = "recsys_kit.run_id"
#: MLflow's limit on params per log_batch call.
PARAMS_PER_BATCH = 100
#: How a recsys-kit status ends an MLflow run.
TERMINAL = {"completed": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


class MlflowRun:
    """The MLflow run of one recsys-kit run: created (or found again, when the recsys-kit run
    resumes) in the experiment, then fed params, metrics, artifacts and its end."""

    def __init__(self, client: MlflowClient, mlflow_run_id: str) -> None:
        self.client = client
        self.id = mlflow_run_id

    @classmethod
    def start(cls, tracking_uri: str, experiment: str, run_id: str, run_name: str,
              recipe: Mapping[str, Any], attempt: int) -> MlflowRun:
        """The MLflow run tagged with ``run_id`` in ``experiment`` (made if missing), running,
        with the flattened ``recipe`` as params."""
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = (found.experiment_id if found is not None
                         else client.create_experiment(experiment))
        existing = client.search_runs([experiment_id],
                                      filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'")
        if existing:
            mlflow_run_id = existing[0].info.run_id
            client.update_run(mlflow_run_id, status="RUNNING")
        else:
            mlflow_run_id = client.create_run(
                experiment_id, run_name=run_name, tags={RUN_ID_TAG: run_id}).info.run_id
        run = cls(client, mlflow_run_id)
        run.client.set_tag(mlflow_run_id, "recsys_kit.attempt", str(attempt))
        if not existing:  # params cannot change; a resumed run logged them already
            run.log_params(dict(flatten(recipe)))
        return run

    def log_params(self, params: Mapping[str, str]) -> None:
        """Log ``params``, in batches of MLflow's size limit."""
        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(self.id, params=items[start:start + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log ``metrics`` (already named for MLflow) at ``step``."""
        stamp = int(time.time() * 1000)
        self.client.log_batch(self.id, metrics=[
            Metric(key, value, stamp, step) for key, value in metrics.items()])

    def finish(self, status: str, test_metrics: Mapping[str, float], recipe: Mapping[str, Any],
               artifacts_dir: Path | None, error: str | None = None) -> None:
        """Final test metrics, the recipe and best checkpoint as artifacts, and the end."""
        if test_metrics:
            self.log_metrics({metric_name("test", k): float(v)
                              for k, v in test_metrics.items()}, step=0)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "recipe.yaml"
            path.write_text(yaml.safe_dump(dict(recipe), sort_keys=False))
            self.client.log_artifact(self.id, str(path))
        best = artifacts_dir / "best.safetensors" if artifacts_dir is not None else None
        if best is not None and best.is_file():
            self.client.log_artifact(self.id, str(best), artifact_path="checkpoint")
        if error is not None:
            self.client.set_tag(self.id, "recsys_kit.error", error[:5000])
        self.client.set_tag(self.id, "recsys_kit.status", status)
        self.client.set_terminated(self.id, TERMINAL.get(status, "FAILED"))


def tracking_uri() -> str | None:
    """Where to log: ``MLFLOW_TRACKING_URI``, or None (then this plugin does nothing)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or None
