"""The runs list and one run's details (headless: plain dataclasses out of SQL)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from recsys_kit.store.liveness import shown_status
from recsys_kit.store.results import DEFAULT_RESULTS, now, resume_command
from recsys_kit.tui.formatting import metric_key
from recsys_kit.tui.queries.sweeps import trial_tags

#: The error shown for a run whose process vanished before any writer recorded it.
LOST_NOTE = ("The process that ran it is gone (killed, crashed or power loss); the next run "
             "records it as lost. Resume it with `{resume}`.")
#: Per-epoch training timings (split 'train'), shown as one line rather than as metrics.
TIMINGS = ("epoch_seconds", "eval_seconds", "sequences_per_s")

#: Test metrics shown in the runs list when present, best first (the monitor always leads).
KEY_METRICS = ("ndcg@10", "hr@10", "recall@10", "mrr@10", "ndcg@20", "hr@20")


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs list."""

    run_id: str
    name: str
    status: str
    started_at: datetime | None
    duration_s: float | None
    device: str | None
    monitor: str | None
    epoch: int | None
    monitor_value: float | None
    test: dict[str, float] = field(default_factory=dict)
    #: The sweep this run is a trial of, and its trial number (the round of a rolling one).
    sweep_id: str | None = None
    trial: int | None = None

    def elapsed_s(self, now: datetime) -> float | None:
        """Seconds the run took, or has been running for at ``now``."""
        if self.status == "running" and self.started_at is not None:
            return max((now - self.started_at).total_seconds(), 0.0)
        return self.duration_s

    def haystack(self) -> str:
        """Text the runs filter searches (lower case)."""
        when = self.started_at.strftime("%Y-%m-%d %H:%M") if self.started_at else ""
        return " ".join([self.run_id, self.name, self.status, self.device or "", when,
                         self.sweep_id or ""]).lower()


def list_runs(con: duckdb.DuckDBPyConnection) -> list[RunSummary]:
    """Every run with its latest epoch, monitored validation value and test metrics."""
    rows = con.execute("""
        WITH last AS (
            SELECT run_id, max(epoch) AS epoch FROM metrics
            WHERE split = 'valid' AND epoch IS NOT NULL GROUP BY run_id
        ),
        mon AS (
            SELECT m.run_id, m.epoch, m.value
            FROM metrics m JOIN runs r USING (run_id)
            WHERE m.split = 'valid'
              AND m.metric || coalesce('@' || CAST(m.k AS VARCHAR), '') = r.monitor
        )
        SELECT r.run_id, r.name, r.status, r.started_at, r.duration_s, r.device, r.monitor,
               last.epoch,
               (SELECT arg_max(mon.value, mon.epoch) FROM mon
                 WHERE mon.run_id = r.run_id
                   AND mon.epoch <= coalesce(r.best_epoch, last.epoch)),
               r.pid, r.host, r.heartbeat_at
        FROM runs r LEFT JOIN last USING (run_id)
        ORDER BY r.started_at DESC, r.run_id
    """).fetchall()
    stamp = now()
    rows = [(*row[:2], shown_status(row[2], *row[9:], stamp), *row[3:9]) for row in rows]
    tests: dict[str, dict[str, float]] = {}
    for run_id, metric, k, value in con.execute(
        "SELECT run_id, metric, k, value FROM metrics WHERE split = 'test' ORDER BY metric, k"
    ).fetchall():
        tests.setdefault(run_id, {})[metric_key(metric, k)] = value
    tags = trial_tags(con)
    summaries = []
    for row in rows:
        sweep_id, trial = tags.get(row[0], (None, None))
        summaries.append(RunSummary(*row, test=tests.get(row[0], {}), sweep_id=sweep_id,
                                    trial=trial))
    return summaries


def key_metrics(runs: list[RunSummary], limit: int = 2) -> list[str]:
    """The test metrics worth a column: the most common monitor, then ``KEY_METRICS``."""
    present = {key for r in runs for key in r.test}
    monitors = [r.monitor for r in runs if r.monitor in present]
    ordered = [max(set(monitors), key=monitors.count)] if monitors else []
    ordered += [k for k in KEY_METRICS if k in present and k not in ordered]
    ordered += sorted(present - set(ordered))
    return ordered[:limit]


@dataclass(frozen=True)
class Curve:
    """One per-epoch series (training loss or the monitored validation metric)."""

    label: str
    epochs: list[int]
    values: list[float]


@dataclass
class RunDetail:
    """Everything the run screen shows."""

    run_id: str
    name: str
    status: str
    started_at: datetime | None
    duration_s: float | None
    device: str | None
    seed: int | None
    monitor: str | None
    best_epoch: int | None
    data_key: str | None
    parent_run_id: str | None
    error: str | None
    recipe: dict[str, Any]
    versions: dict[str, str]
    #: (split, metric, k, value): test; valid and train loss at the best (else the latest
    #: validated) epoch.
    metrics: list[tuple[str, str, int | None, float]]
    metrics_epoch: int | None
    loss: Curve
    #: The monitored validation metric per epoch; None when the run monitors nothing.
    monitor_curve: Curve | None
    plugins: list[tuple[str, str, str, str | None, str | None]]
    artifacts: list[tuple[str, str, str, int | None]]
    #: Mean per-epoch training timings by name (``TIMINGS``), and over how many epochs.
    timing: dict[str, float] = field(default_factory=dict)
    timing_epochs: int = 0


def _loads(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable": text}


def run_detail(con: duckdb.DuckDBPyConnection, run_id: str,
               results: Path = DEFAULT_RESULTS) -> RunDetail | None:
    """One run of the results file ``results``, or None when there is no run with this id."""
    row = con.execute(
        "SELECT run_id, name, status, started_at, duration_s, device, seed, monitor, best_epoch, "
        "data_key, parent_run_id, error, recipe, versions, pid, host, heartbeat_at FROM runs "
        "WHERE run_id = ?", [run_id]
    ).fetchone()
    if row is None:
        return None
    status = shown_status(row[2], *row[14:], now())
    if status != row[2]:
        note = LOST_NOTE.format(resume=resume_command(run_id, results))
        row = (*row[:2], status, *row[3:11], note, *row[12:])
    monitor, best = row[7], row[8]
    series = con.execute(
        "SELECT split, epoch, metric, k, value FROM metrics WHERE run_id = ? AND epoch IS NOT NULL "
        "ORDER BY epoch, logged_at", [run_id]).fetchall()
    loss = [(e, v) for s, e, m, k, v in series if s == "train" and m == "loss"]
    mon = [(e, v) for s, e, m, k, v in series if s == "valid" and metric_key(m, k) == monitor]
    last = max((e for s, e, *_ in series if s == "valid"), default=None)
    if last is None:  # nothing validated (yet): the latest epoch of anything
        last = max((e for _, e, *_ in series), default=None)
    at = best if best is not None else last
    metrics = con.execute(
        "SELECT split, metric, k, value FROM metrics WHERE run_id = ? AND split = 'test' "
        "ORDER BY metric, k", [run_id]).fetchall()
    metrics += [(s, m, k, v) for s, e, m, k, v in series
                if e == at and (s == "valid" or (s == "train" and m == "loss"))]
    timings: dict[str, list[float]] = {}
    for s, _, m, _, v in series:
        if s == "train" and m in TIMINGS and v is not None and math.isfinite(v):
            timings.setdefault(m, []).append(v)
    plugins = con.execute(
        "SELECT recipe_path, family, plugin, distribution, version FROM run_plugins "
        "WHERE run_id = ? ORDER BY recipe_path", [run_id]).fetchall()
    artifacts = con.execute(
        "SELECT name, kind, path, bytes FROM artifacts WHERE run_id = ? ORDER BY created_at, name",
        [run_id]).fetchall()
    return RunDetail(
        *row[:12], recipe=_loads(row[12]), versions=_loads(row[13]), metrics=metrics,
        metrics_epoch=at,
        loss=Curve("training loss", [e for e, _ in loss], [v for _, v in loss]),
        monitor_curve=None if monitor is None else Curve(
            f"valid {monitor}", [e for e, _ in mon], [v for _, v in mon]),
        plugins=plugins, artifacts=artifacts,
        timing={m: sum(vs) / len(vs) for m, vs in timings.items()},
        timing_epochs=max(map(len, timings.values()), default=0),
    )
