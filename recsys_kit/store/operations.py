"""The writes of the results file, one function each, run inside a caller's transaction.

Every operation is idempotent (running it twice leaves what running it once does) and takes
its time stamp as an argument (``at``), so a write kept aside and replayed later is exactly
the write that was meant. :data:`OPERATIONS` names them for the journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

Connection = duckdb.DuckDBPyConnection


def split_metric(key: str) -> tuple[str, int | None]:
    """``'ndcg@10'`` -> ``('ndcg', 10)``; ``'loss'`` -> ``('loss', None)``."""
    name, _, k = key.partition("@")
    return name, int(k) if k else None


def start_run(con: Connection, *, run_id: str, name: str, recipe: Mapping[str, Any],
              source: str, versions: Mapping[str, str], device: str, seed: int, monitor: str,
              plugins: Sequence[Mapping[str, Any]], parent_run_id: str | None,
              pid: int | None, host: str | None, at: datetime, processes: int = 1) -> None:
    """Insert the run's row (``running``) and the plugins it uses. (``processes`` has a
    default for the entries that an earlier version kept aside in a journal.)"""
    con.execute(
        "INSERT INTO runs (run_id, name, status, parent_run_id, recipe, recipe_source, versions, "
        "device, seed, monitor, started_at, pid, host, heartbeat_at, attempts, processes) "
        "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
        [run_id, name, parent_run_id, json.dumps(recipe), source, json.dumps(versions), device,
         seed, monitor, at, pid, host, at, processes],
    )
    con.execute("DELETE FROM run_plugins WHERE run_id = ?", [run_id])
    for p in plugins:
        con.execute(
            "INSERT INTO run_plugins VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, p["recipe_path"], p["family"], p["plugin"], p["distribution"],
             p["version"], json.dumps(p["params"])],
        )


def restart_run(con: Connection, *, run_id: str, attempt: int, pid: int, host: str,
                device: str, at: datetime, processes: int = 1) -> None:
    """A resumed run is ``running`` again, owned by process ``pid`` on ``host``."""
    con.execute(
        "UPDATE runs SET status = 'running', attempts = ?, pid = ?, host = ?, device = ?, "
        "processes = ?, heartbeat_at = ?, ended_at = NULL, duration_s = NULL, error = NULL "
        "WHERE run_id = ?",
        [attempt, pid, host, device, processes, at, run_id],
    )


def set_data_key(con: Connection, *, run_id: str, data_key: str, at: datetime) -> None:
    """Record the dataset the run trained on."""
    con.execute("UPDATE runs SET data_key = ? WHERE run_id = ?", [data_key, run_id])


def finish_run(con: Connection, *, run_id: str, status: str, best_epoch: int | None,
               error: str | None, at: datetime, keep_best_epoch: bool = False) -> None:
    """Put the run in a terminal state; ``keep_best_epoch`` leaves a recorded one as it is."""
    best = "coalesce(best_epoch, ?)" if keep_best_epoch else "?"
    con.execute(
        f"UPDATE runs SET status = ?, best_epoch = {best}, error = ?, ended_at = ?, "
        "duration_s = epoch(?::TIMESTAMP - started_at) WHERE run_id = ?",
        [status, best_epoch, error, at, at, run_id],
    )


def log_metrics(con: Connection, *, run_id: str, split: str, epoch: int | None,
                values: Mapping[str, float], at: datetime) -> None:
    """Metrics in long format, replacing the same (run, split, epoch, metric, k)."""
    rows = [[run_id, split, epoch, *split_metric(key), float(value), at]
            for key, value in values.items()]
    for row in rows:
        con.execute("DELETE FROM metrics WHERE run_id = ? AND split = ? AND epoch IS NOT "
                    "DISTINCT FROM ? AND metric = ? AND k IS NOT DISTINCT FROM ?", row[:5])
    con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def stored_recommendations(scores: np.ndarray) -> int:
    """How many of a (users, K) score array's slots are stored (the finite ones)."""
    return int(np.isfinite(scores).sum())


def write_recommendations(con: Connection, *, run_id: str, user_ids: np.ndarray,
                          item_ids: np.ndarray, scores: np.ndarray, at: datetime) -> None:
    """The run's top-K lists, replacing earlier ones; -inf slots are not stored."""
    n_users, k = item_ids.shape
    keep = np.isfinite(scores.reshape(-1))
    recs = {  # noqa: F841 - read by DuckDB's replacement scan below
        "run_id": np.full(int(keep.sum()), run_id, dtype=object),
        "user_id": np.repeat(np.asarray(user_ids).astype(object), k)[keep],
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n_users)[keep],
        "item_id": item_ids.reshape(-1).astype(object)[keep],
        "score": scores.reshape(-1).astype(np.float64)[keep],
    }
    con.execute("DELETE FROM recommendations WHERE run_id = ?", [run_id])
    con.execute("INSERT INTO recommendations SELECT run_id, user_id, rank, item_id, score "
                "FROM recs")


def write_explanations(con: Connection, *, run_id: str, rows: Mapping[str, np.ndarray],
                       method: str, at: datetime) -> None:
    """Weights of history items behind recommendations, replacing the run's earlier ones of
    the same method."""
    n = len(rows["user_id"])
    expl = {"run_id": np.full(n, run_id, dtype=object),  # noqa: F841
            "method": np.full(n, method, dtype=object), **rows}
    con.execute("DELETE FROM explanations WHERE run_id = ? AND method = ?", [run_id, method])
    con.execute("INSERT INTO explanations BY NAME SELECT run_id, user_id, rank, history_item_id, "
                "weight, method FROM expl")


def add_artifact(con: Connection, *, run_id: str, name: str, kind: str, path: Path,
                 size: int | None, at: datetime) -> None:
    """Record a file the run wrote, replacing an earlier record of the same name."""
    con.execute("DELETE FROM artifacts WHERE run_id = ? AND name = ?", [run_id, name])
    con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, name, kind, str(path), size, at])


def write_dataset(con: Connection, *, data_key: str, user_ids: np.ndarray,
                  positions: np.ndarray, item_ids: np.ndarray, splits: np.ndarray,
                  catalogue: Mapping[str, np.ndarray], at: datetime) -> None:
    """A dataset's sequences and item titles, once per data key."""
    if con.execute("SELECT 1 FROM datasets WHERE data_key = ?", [data_key]).fetchone():
        return
    inter = {
        "data_key": np.full(len(user_ids), data_key, dtype=object),
        "user_id": np.asarray(user_ids).astype(object),
        "position": np.asarray(positions).astype(np.int32),
        "item_id": np.asarray(item_ids).astype(object),
        "split": np.asarray(splits).astype(object),
    }
    cat = {
        "data_key": np.full(len(catalogue["item_id"]), data_key, dtype=object),
        "item_id": np.asarray(catalogue["item_id"]).astype(object),
        "title": np.asarray(catalogue["title"]).astype(object),
    }
    con.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?)",
                [data_key, len(np.unique(inter["user_id"])), len(cat["item_id"]),
                 len(inter["user_id"]), at])
    con.execute("INSERT INTO interactions SELECT * FROM inter")
    con.execute("INSERT INTO items SELECT * FROM cat")


def add_feedback(con: Connection, *, run_id: str, events: Mapping[str, np.ndarray],
                 source: str, at: datetime) -> None:
    """Feedback events on a run's recommendations; an ``event_id`` already stored is skipped
    (so a retried request or a replayed write stores each event once).

    ``events`` holds ``event_id``, ``user_id``, ``item_id``, ``kind`` (strings), ``value``
    (float, NaN for none) and ``ts`` (datetime64) arrays of equal length.
    """
    ids = np.asarray(events["event_id"]).astype(str)
    _, first = np.unique(ids, return_index=True)
    keep = np.sort(first)  # an id twice in one call: its first event counts
    fb = {name: np.asarray(events[name]).astype(object)[keep]
          for name in ("event_id", "user_id", "item_id", "kind")}
    fb["value"] = np.asarray(events["value"], dtype=np.float64)[keep]
    fb["ts"] = np.asarray(events["ts"]).astype("datetime64[us]")[keep]
    con.execute(
        "INSERT INTO feedback BY NAME SELECT event_id, ? AS run_id, user_id, item_id, kind, "
        "CASE WHEN isnan(value) THEN NULL ELSE value END AS value, ts, ?::TIMESTAMP AS "
        "received_at, ? AS source FROM fb ON CONFLICT DO NOTHING", [run_id, at, source])


# -- sweeps (recsys-kit sweep) -----------------------------------------------------------------


def start_sweep(con: Connection, *, sweep_id: str, name: str, method: str,
                space: Mapping[str, Any], n_trials: int, metric: str, direction: str,
                recipe: Mapping[str, Any], source: str, at: datetime) -> None:
    """Insert the sweep's row (``running``); a resumed sweep is ``running`` again."""
    con.execute(
        "INSERT INTO sweeps (sweep_id, name, method, space, n_trials, metric, direction, recipe, "
        "recipe_source, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?) "
        "ON CONFLICT DO UPDATE SET status = 'running', ended_at = NULL",
        [sweep_id, name, method, json.dumps(space), n_trials, metric, direction,
         json.dumps(recipe), source, at],
    )


def tag_trial(con: Connection, *, run_id: str, sweep_id: str, trial: int,
              params: Mapping[str, Any], at: datetime) -> None:
    """Mark run ``run_id`` as trial ``trial`` of the sweep, with the params it set."""
    con.execute("UPDATE runs SET sweep_id = ?, trial = ?, trial_params = ? WHERE run_id = ?",
                [sweep_id, trial, json.dumps(params), run_id])


def finish_sweep(con: Connection, *, sweep_id: str, status: str, best_run_id: str | None,
                 at: datetime) -> None:
    """Put the sweep in its end state (``completed`` or ``interrupted``) with its best run."""
    con.execute("UPDATE sweeps SET status = ?, ended_at = ?, best_run_id = ? WHERE sweep_id = ?",
                [status, at, best_run_id, sweep_id])


OPERATIONS: dict[str, Callable[..., None]] = {
    fn.__name__: fn for fn in (start_run, restart_run, set_data_key, finish_run, log_metrics,
                               write_recommendations, write_explanations, add_artifact,
                               write_dataset, add_feedback, start_sweep, tag_trial,
                               finish_sweep)
}
