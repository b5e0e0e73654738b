"""SIGKILL a run at many moments (ingest, training, result writing): the results file always
opens, earlier runs stay intact, the killed run is ``lost``, and it resumes to completion."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from recsys_kit.plugins import make_plugins
from recsys_kit.runner.pipeline import Runner
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny

pytestmark = pytest.mark.slow

KILLS = 20
#: Bigger than the tiny recipe, so that ingest, training and writing each take a while.
SETTINGS = ("data.ingest.params.n_users=500", "data.ingest.params.n_items=300",
            "train.epochs=3", "train.patience=3", "output.top_k=20")


def _snapshot(store: ResultStore) -> dict[str, tuple]:
    """Everything about each finished run that must never change, by run id."""
    runs = store.query("SELECT run_id, name, status, best_epoch, error, recipe FROM runs "
                       "WHERE status IN ('completed', 'failed')")[1]
    metrics = store.query("SELECT run_id, split, epoch, metric, k, value FROM metrics "
                          "ORDER BY ALL")[1]
    lists = store.query("SELECT run_id, count(*), sum(rank), min(score), max(score) FROM "
                        "recommendations GROUP BY run_id")[1]
    return {row[0]: (row, [m for m in metrics if m[0] == row[0]],
                     [r for r in lists if r[0] == row[0]]) for row in runs}


def _start(recipe: Path) -> tuple[subprocess.Popen, float]:
    """Start a run; return it and the time at which its row is about to be written."""
    proc = subprocess.Popen([sys.executable, "-m", "recsys_kit", "run", str(recipe)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        if line.startswith("run "):
            return proc, time.monotonic()
        seen.append(line)
    raise AssertionError(f"the run never started (exit {proc.wait()}): {''.join(seen)}")


def test_sigkill_at_random_moments_never_costs_earlier_results(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    store = ResultStore.in_dir(out)
    plugins = make_plugins()
    recipe = tmp_path / "recipe.yaml"

    def write_recipe(i: int) -> None:  # a new data seed each time: ingest runs every time
        recipe.write_text(yaml.safe_dump(tiny(out, *SETTINGS, f"data.ingest.params.seed={i}")))

    write_recipe(0)
    reference, started = _start(recipe)
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    work_s = time.monotonic() - started
    before = _snapshot(store)
    rng = random.Random(20261205)
    killed = resumed = 0
    for i in range(1, KILLS + 1):
        write_recipe(i)
        proc, started = _start(recipe)
        # Spread the kills over the whole run, from its first write to its last.
        time.sleep(max(0.0, started + work_s * (i - rng.random()) / KILLS - time.monotonic()))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        store.migrate()  # opens, merges, records the vanished run as lost
        after = _snapshot(store)
        assert {run_id: after.get(run_id) for run_id in before} == before  # earlier runs intact
        rows = store.query("SELECT run_id, status FROM runs WHERE status NOT IN "
                           "('completed', 'failed')")[1]
        assert all(status == "lost" for _, status in rows), rows
        for run_id, _ in rows:
            [outcome] = Runner(plugins, Console(quiet=True)).resume(run_id, store.path)
            assert outcome.status == "completed", outcome.error
            resumed += 1
        killed += 1
        before = _snapshot(store)
    assert killed == KILLS and resumed >= KILLS // 2
    statuses = store.query("SELECT DISTINCT status FROM runs")[1]
    assert statuses == [("completed",)]
