"""A sweep's trials as the results file records them: each trial's run, status, params and
its value of the sweep's metric (validation, at the run's best epoch)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recsys_kit.store import ResultStore
from recsys_kit.store.operations import split_metric

#: Trial run statuses that end a trial for good; interrupted and lost trials resume.
DONE = ("completed", "failed")


@dataclass
class Trial:
    """One trial: its number, params, run (None before it started) and results."""

    number: int
    params: dict[str, Any]
    run_id: str | None = None
    status: str | None = None
    value: float | None = None
    test_value: float | None = None

    @property
    def done(self) -> bool:
        """Whether the trial has ended for good (completed or failed)."""
        return self.status in DONE


TRIALS_SQL = """
SELECT r.trial, r.run_id, r.status, r.trial_params,
       (SELECT value FROM metrics m WHERE m.run_id = r.run_id AND m.split = 'valid'
          AND m.epoch = r.best_epoch AND m.metric = ? AND m.k IS NOT DISTINCT FROM ?) AS valid,
       (SELECT value FROM metrics m WHERE m.run_id = r.run_id AND m.split = 'test'
          AND m.epoch IS NULL AND m.metric = ? AND m.k IS NOT DISTINCT FROM ?) AS test
FROM runs r
WHERE r.sweep_id = ? AND r.parent_run_id IS NULL
ORDER BY r.trial, r.started_at
"""


def recorded_trials(store: ResultStore, sweep_id: str, metric: str) -> dict[int, Trial]:
    """Every trial of the sweep that has a run, by number (the latest run of a trial wins)."""
    name, k = split_metric(metric)
    _, rows = store.query(TRIALS_SQL, [name, k, name, k, sweep_id])
    trials: dict[int, Trial] = {}
    for number, run_id, status, params, valid, test in rows:
        trials[number] = Trial(number, json.loads(params) if params else {}, run_id, status,
                               None if status != "completed" else valid, test)
    return trials


def test_metrics(store: ResultStore, run_id: str) -> dict[str, float]:
    """The run's final test metrics keyed like ``ndcg@10``."""
    _, rows = store.query("SELECT metric, k, value FROM metrics WHERE run_id = ? AND "
                          "split = 'test' AND epoch IS NULL ORDER BY metric, k", [run_id])
    return {f"{m}@{k}" if k is not None else m: v for m, k, v in rows}


def best(trials: list[Trial], direction: str) -> Trial | None:
    """The completed trial with the best value (None when no trial has one)."""
    scored = [t for t in trials if t.value is not None]
    if not scored:
        return None
    pick = min if direction == "minimize" else max
    return pick(scored, key=lambda t: t.value)
