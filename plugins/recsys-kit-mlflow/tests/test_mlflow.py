"""The MLflow logger against MLflow's own local file store (a file: URI in a tmp folder):
params, per-epoch and final metrics, artifacts, run ends, resume, and tracking failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from recsys_kit_mlflow.hooks import ACTIVE
from recsys_kit_mlflow.names import MAX_PARAM_LENGTH, TRUNCATED, epoch_metrics, flatten
from rich.console import Console

from recsys_kit.api import hookimpl
from recsys_kit.interrupts import StopRequested
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.pipeline import Runner
from recsys_kit.testing import tiny

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A file: tracking store in tmp_path, configured by environment as a user would."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for this opt-in
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return uri


def run(recipe: dict, *extra: object, console: Console | None = None):
    plugins = make_plugins(extra=extra)
    loaded = validate_mapping(recipe, plugins.registry)
    return Runner(plugins, console or Console(quiet=True)).run(loaded), plugins


def the_run(uri: str, experiment: str, run_id: str):
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    runs = client.search_runs([found.experiment_id],
                              filter_string=f"tags.`recsys_kit.run_id` = '{run_id}'")
    assert len(runs) == 1
    return client, runs[0]


class StopAt:
    """Stops the run after epoch ``epoch``, as SIGTERM would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @hookimpl
    def after_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            raise StopRequested("SIGTERM")


def test_a_run_is_logged_whole(tmp_path: Path, store: str) -> None:
    [outcome], _ = run(tiny(tmp_path / "runs"))
    client, logged = the_run(store, "tiny", outcome.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == "tiny"
    params = logged.data.params
    assert params["train.epochs"] == "2"
    assert params["model.encoders.user.plugin"] == "sasrec"
    assert params["data.tokenize.0.plugin"] == "item_ids"
    assert params["output.dir"] == str(tmp_path / "runs")
    history = client.get_metric_history(logged.info.run_id, "valid/ndcg_at_10")
    assert [m.step for m in history] == [1, 2]
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "train/loss")] == [1, 2]
    assert logged.data.metrics["test/ndcg_at_10"] == pytest.approx(outcome.metrics["ndcg@10"])
    assert set(logged.data.metrics) >= {f"test/{m}_at_{k}" for m in ("hr", "ndcg") for k in (5, 10)}
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artifacts == {"recipe.yaml", "checkpoint"}
    [checkpoint] = client.list_artifacts(logged.info.run_id, "checkpoint")
    local = tmp_path / "runs" / "artifacts" / outcome.run_id / "best.safetensors"
    assert checkpoint.path == "checkpoint/best.safetensors"
    assert checkpoint.file_size == local.stat().st_size
    recipe = Path(client.download_artifacts(logged.info.run_id, "recipe.yaml", str(tmp_path)))
    assert "name: tiny" in recipe.read_text()


def test_an_interrupted_run_is_killed_and_its_resume_continues_the_same_run(
        tmp_path: Path, store: str) -> None:
    recipe = tiny(tmp_path / "runs")
    [stopped], _ = run(recipe, StopAt(1))
    assert stopped.status == "interrupted"
    client, logged = the_run(store, "tiny", stopped.run_id)
    assert logged.info.status == "KILLED"
    results = tmp_path / "runs" / "results.duckdb"
    [resumed] = Runner(make_plugins(), Console(quiet=True)).resume(stopped.run_id, results)
    assert resumed.status == "completed"
    client, logged = the_run(store, "tiny", stopped.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.tags["recsys_kit.attempt"] == "2"
    steps = [m.step for m in client.get_metric_history(logged.info.run_id, "valid/ndcg_at_10")]
    assert steps == [1, 2]


def test_a_failed_run_is_failed_in_mlflow_in_the_named_experiment(
        tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "my-study")
    recipe = tiny(tmp_path / "runs", "data.ingest.plugin=files",
                  "data.ingest.params={interactions: {path: missing.csv}}")
    [outcome], _ = run(recipe)
    assert outcome.status == "failed"
    _, logged = the_run(store, "my-study", outcome.run_id)
    assert logged.info.status == "FAILED"
    assert "missing.csv" in logged.data.tags["recsys_kit.error"]


def test_a_tracking_failure_warns_and_the_run_goes_on(tmp_path: Path, store: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # MLflow 3 refuses a file store without it
    console = Console(record=True, width=200)
    [outcome], _ = run(tiny(tmp_path / "runs", "train.epochs=1"), console=console)
    assert outcome.status == "completed"
    text = console.export_text()
    assert f"MLflow logging of run {outcome.run_id} stopped: starting the MLflow run" in text
    assert "MLFLOW_ALLOW_FILE_STORE=true" in text


def test_without_a_tracking_uri_nothing_is_logged(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    [outcome], plugins = run(tiny(tmp_path / "runs", "train.epochs=1"))
    assert outcome.status == "completed"
    assert any(i.distribution == "recsys-kit-mlflow" for i in plugins.list_plugin_distinfo())
    assert not ACTIVE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no mlruns, no mlflow.db


def test_loading_the_plugin_imports_no_mlflow() -> None:
    probe = ("import sys\nfrom recsys_kit.plugins import make_plugins\nmake_plugins()\n"
             "from recsys_kit_mlflow.hooks import before_run\nbefore_run(run=None)\n"
             "print('mlflow' in sys.modules, 'torch' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.split() == ["False", "False"]


def test_recipe_flattening_and_metric_names() -> None:
    recipe = {"a": {"b": 1, "c": [{"plugin": "x"}, "y"], "d": {}, "e": None},
              "long": "z" * (MAX_PARAM_LENGTH + 10)}
    flat = dict(flatten(recipe))
    assert flat["a.b"] == "1" and flat["a.c.0.plugin"] == "x" and flat["a.c.1"] == "y"
    assert flat["a.d"] == "{}" and flat["a.e"] == "null"
    assert len(flat["long"]) == MAX_PARAM_LENGTH and flat["long"].endswith(TRUNCATED)
    assert epoch_metrics({"loss": 1.5, "ndcg@10": 0.25, "note": "x"}) == {
        "train/loss": 1.5, "valid/ndcg_at_10": 0.25}
