"""Sweeps: which runs are trials of which sweep, and one sweep with its trials (headless)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from recsys_kit.store.liveness import shown_status
from recsys_kit.store.results import now
from recsys_kit.sweeps.trials import DONE
from recsys_kit.tui.formatting import metric_key


@dataclass(frozen=True)
class SweepTrial:
    """One trial of a sweep: its run, params and metrics (``valid`` at the run's best epoch,
    ``test`` from the best weights), keyed like ``ndcg@10``."""

    number: int
    run_id: str
    status: str
    params: dict[str, Any]
    valid: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepDetail:
    """A sweep's row and its trials in trial order (the latest run of a trial wins)."""

    sweep_id: str
    name: str
    method: str
    status: str
    metric: str
    direction: str
    n_trials: int
    started_at: datetime | None
    ended_at: datetime | None
    best_run_id: str | None
    trials: list[SweepTrial]

    @property
    def done(self) -> int:
        """How many trials have ended for good (completed or failed)."""
        return sum(t.status in DONE for t in self.trials)

    @property
    def params(self) -> list[str]:
        """Every param any trial set, in the order the trials first set them."""
        return list(dict.fromkeys(key for t in self.trials for key in t.params))

    @property
    def best_trial(self) -> SweepTrial | None:
        """The trial whose run is the sweep's best run, if recorded."""
        return next((t for t in self.trials if t.run_id == self.best_run_id), None)


def _has_sweeps(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the file has the sweeps table (schema v3; older files are read as they are)."""
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sweeps' "
                            "AND database_name = current_database()").fetchone()[0])


def trial_tags(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int | None]]:
    """``run_id -> (sweep_id, trial)`` for every run that is a trial of a sweep."""
    if not _has_sweeps(con):
        return {}
    rows = con.execute("SELECT run_id, sweep_id, trial FROM runs WHERE sweep_id IS NOT NULL "
                       "AND parent_run_id IS NULL").fetchall()
    return {run_id: (sweep_id, trial) for run_id, sweep_id, trial in rows}


def _params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError:
        return {"params": text}
    return loaded if isinstance(loaded, dict) else {"params": loaded}


def sweep_detail(con: duckdb.DuckDBPyConnection, sweep_id: str) -> SweepDetail | None:
    """The sweep ``sweep_id`` with its trials, or None when the file has no such sweep."""
    if not _has_sweeps(con):
        return None
    row = con.execute(
        "SELECT sweep_id, name, method, status, metric, direction, n_trials, started_at, "
        "ended_at, best_run_id FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone()
    if row is None:
        return None
    runs = con.execute(
        "SELECT trial, run_id, status, trial_params, pid, host, heartbeat_at FROM runs "
        "WHERE sweep_id = ? AND trial IS NOT NULL AND parent_run_id IS NULL "
        "ORDER BY trial, started_at, run_id", [sweep_id]).fetchall()
    metrics: dict[tuple[str, str], dict[str, float]] = {}
    for run_id, split, metric, k, value in con.execute(
        "SELECT m.run_id, m.split, m.metric, m.k, m.value FROM metrics m JOIN runs r "
        "USING (run_id) WHERE r.sweep_id = ? AND r.parent_run_id IS NULL AND ("
        "(m.split = 'test' AND m.epoch IS NULL) OR (m.split = 'valid' AND m.epoch = r.best_epoch))"
        " ORDER BY m.metric, m.k", [sweep_id]).fetchall():
        metrics.setdefault((run_id, split), {})[metric_key(metric, k)] = value
    stamp = now()
    trials: dict[int, SweepTrial] = {}
    for number, run_id, status, params, pid, host, beat in runs:
        trials[number] = SweepTrial(
            number, run_id, shown_status(status, pid, host, beat, stamp), _params(params),
            valid=metrics.get((run_id, "valid"), {}), test=metrics.get((run_id, "test"), {}))
    return SweepDetail(*row, trials=[trials[n] for n in sorted(trials)])
