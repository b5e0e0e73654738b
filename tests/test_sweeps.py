"""Sweeps: the search space, the checks before anything runs, trials as tagged runs in
parallel worker processes, Optuna, and a sweep interrupted with Ctrl-C that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from recsys_kit.errors import RecipeError, RecsysKitError
from recsys_kit.plugins import make_plugins
from recsys_kit.store import ResultStore
from recsys_kit.sweeps.plan import plan_sweep
from recsys_kit.sweeps.slots import make_slots
from recsys_kit.sweeps.space import (
    direction,
    grid_trials,
    parse_grid,
    parse_param,
    split_values,
    trial_recipe,
)
from recsys_kit.testing import tiny


def write_recipe(tmp_path: Path, *overrides: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tiny(tmp_path / "runs", *overrides)))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys_kit", *args], capture_output=True,
                          text=True, cwd=cwd)


def rows(store: ResultStore, sql: str, *params: object) -> list[tuple]:
    return store.query(sql, list(params))[1]


# -- the space ------------------------------------------------------------------------------


def test_grid_values_are_read_like_set_and_combined() -> None:
    assert split_values("1e-3, 3e-3") == ["1e-3", "3e-3"]
    assert split_values("[5,10],[20],'a,b'") == ["[5,10]", "[20]", "'a,b'"]
    grid = parse_grid(["train.lr=1e-3,3e-3", "evaluate.0.params.k=[5,10],[20]"])
    assert grid == {"train.lr": [0.001, 0.003], "evaluate.0.params.k": [[5, 10], [20]]}
    assert grid_trials(grid)[1] == {"train.lr": 0.001, "evaluate.0.params.k": [20]}
    assert len(grid_trials(grid)) == 4
    recipe = trial_recipe({"train": {"lr": 1.0}, "evaluate": [{"plugin": "ranking"}]},
                          {"train.lr": 0.5, "evaluate.0.params.k": [20]})
    assert recipe == {"train": {"lr": 0.5},
                      "evaluate": [{"plugin": "ranking", "params": {"k": [20]}}]}


def test_optuna_params_parse_and_bad_ones_are_named() -> None:
    lr = parse_param("train.lr=float:1e-4:1e-2:log")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 1e-4, 1e-2, True)
    assert parse_param("train.batch_size=choice:32,64").choices == (32, 64)
    assert parse_param("model.encoders.user.params.layers=int:1:3").extremes() == [1, 3]
    for bad, says in [("train.lr=float:1:0", "LOW must be smaller"),
                      ("train.lr=float:0:1:log", "log range needs LOW above 0"),
                      ("train.lr=normal:0:1", "not one of float, int, choice"),
                      ("train.lr", "needs the form"), ("train.lr=int:a:b", "must be int")]:
        with pytest.raises(RecipeError, match=says):
            parse_param(bad)
    assert direction("ndcg@10") == "maximize" and direction("rmse") == "minimize"


def test_a_bad_sweep_is_refused_before_anything_runs(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path)
    registry = make_plugins().registry

    def plan(**kw: object):
        args = {"overrides": [], "grid": [], "optuna": None, "params": [], "metric": None}
        return plan_sweep(recipe, registry=registry, sweep_id="s", **{**args, **kw})

    with pytest.raises(RecipeError, match=r"train\.lr.*with the --grid setting train\.lr=-1"):
        plan(grid=["train.lr=0.01,-1"])
    with pytest.raises(RecsysKitError, match="not a metric the recipe's evaluators report"):
        plan(grid=["train.lr=0.01"], metric="ndcg@50")
    with pytest.raises(RecsysKitError, match="not both"):
        plan(grid=["train.lr=0.01"], optuna=2, params=["train.lr=float:0.1:1"])
    with pytest.raises(RecsysKitError, match="needs at least one --param"):
        plan(optuna=2)
    with pytest.raises(RecipeError, match="with the --param setting"):
        plan(optuna=2, params=["model.encoders.user.params.dim=int:0:16"])
    spec = plan(grid=["train.lr=0.01,0.02", "train.batch_size=16,32"], overrides=["seed=3"])
    assert (spec.n_trials, spec.metric, spec.seed, spec.recipe["baselines"]) == (4, "ndcg@10",
                                                                                3, [])
    assert not (tmp_path / "runs").exists()


def test_slots_are_bounded_by_cores_and_share_threads() -> None:
    cores = len(os.sched_getaffinity(0))
    slots, note = make_slots(cores + 3, "cpu")
    assert len(slots) == cores and note and "running" in note
    slots, note = make_slots(1, "cpu")
    assert note is None and slots[0].threads == cores
    assert slots[0].env["OMP_NUM_THREADS"] == str(cores)


# -- whole sweeps ---------------------------------------------------------------------------


def test_optuna_sweep_in_parallel_tags_its_runs(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    recipe = write_recipe(tmp_path, "train.epochs=1")
    done = cli("sweep", str(recipe), "--optuna", "2", "--param", "train.lr=float:1e-3:1e-2:log",
               "--param", "model.encoders.user.params.dim=choice:8,16", "--parallel", "2",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    store = ResultStore.in_dir(tmp_path / "runs")
    [(sweep_id, method, status, n, best_run, space)] = rows(
        store, "SELECT sweep_id, method, status, n_trials, best_run_id, space FROM sweeps")
    assert (method, status, n) == ("optuna", "completed", 2)
    assert json.loads(space)["params"][0]["key"] == "train.lr"
    trials = rows(store, "SELECT trial, status, trial_params, recipe->>'$.train.lr' FROM runs "
                         "WHERE sweep_id = ? ORDER BY trial", sweep_id)
    assert [(t, s) for t, s, _, _ in trials] == [(0, "completed"), (1, "completed")]
    for _, _, params, lr in trials:
        params = json.loads(params)
        assert 1e-3 <= params["train.lr"] <= 1e-2 and float(lr) == params["train.lr"]
        assert params["model.encoders.user.params.dim"] in (8, 16)
    assert best_run in {r for (r,) in rows(store, "SELECT run_id FROM runs")}
    assert "best trial" in done.stdout and "(cpu, 1 thread" in done.stdout


def _wait_for(store: ResultStore, sql: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if store.path.exists() and rows(store, sql)[0][0]:
                return
        except RecsysKitError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {sql}")


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path: Path) -> None:
    # Enough epochs that trial 0 is still training when the stop arrives after its first.
    recipe = write_recipe(tmp_path, "train.epochs=6", "train.patience=6")
    proc = subprocess.Popen([sys.executable, "-m", "recsys_kit", "sweep", str(recipe),
                             "--grid", "train.lr=0.001,0.002"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    store = ResultStore.in_dir(tmp_path / "runs")
    _wait_for(store, "SELECT count(*) FROM metrics WHERE split = 'valid'")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    [(sweep_id, status)] = rows(store, "SELECT sweep_id, status FROM sweeps")
    assert status == "interrupted"
    assert f"recsys-kit sweep --resume {sweep_id}" in err
    [(first_run, trial, run_status)] = rows(
        store, "SELECT run_id, trial, status FROM runs WHERE sweep_id = ?", sweep_id)
    assert (trial, run_status) == (0, "interrupted")

    done = cli("sweep", "--resume", sweep_id, "--results", str(store.path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"resuming run {first_run}" in done.stdout
    trials = rows(store, "SELECT trial, run_id, status, attempts FROM runs WHERE sweep_id = ? "
                         "ORDER BY trial", sweep_id)
    assert [(t, s, a) for t, _, s, a in trials] == [(0, "completed", 2), (1, "completed", 1)]
    assert trials[0][1] == first_run
    assert rows(store, "SELECT status FROM sweeps") == [("completed",)]
    again = cli("sweep", "--resume", sweep_id, "--results", str(store.path), cwd=tmp_path)
    assert again.returncode == 0 and "started" not in again.stdout  # nothing left to run
