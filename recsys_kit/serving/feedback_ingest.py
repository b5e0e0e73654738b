"""Feedback back into the data: the events a recipe's ``data.feedback`` selects, appended to
the ingested interactions before the split, so that a retrain sees them.

The events are read once per run (committed ones from the results file, and those still kept
aside in its journal), and their ids go into the data-stage cache key: new feedback means new
data, never a stale cache. A feedback event's ``ts`` is kept in Unix seconds when that is
later than every ingested interaction (data in seconds, or ordered by position); otherwise
(data in milliseconds, say) all feedback is shifted to start right after the latest one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_kit.columns import INTERACTIONS
from recsys_kit.errors import DataError
from recsys_kit.runner.context import DataContext
from recsys_kit.serving.feedback_source import FeedbackSource
from recsys_kit.store import RESULTS_FILE
from recsys_kit.store.connection import transaction
from recsys_kit.store.journal import Journal

COLUMNS = ("event_id", "user_id", "item_id", "kind", "value", "ts")


@dataclass(frozen=True)
class FeedbackSnapshot:
    """The selected events (columns of :data:`COLUMNS`) and where they came from."""

    source: FeedbackSource
    path: Path
    events: dict[str, np.ndarray]

    @property
    def fingerprint(self) -> str:
        """Identity of the selection: the settings and the events' ids."""
        digest = hashlib.sha256(json.dumps(self.source.model_dump(mode="json"),
                                           sort_keys=True).encode())
        for event_id in sorted(self.events["event_id"].tolist()):
            digest.update(f"{event_id}\0".encode())
        return digest.hexdigest()[:16]


def feedback_snapshot(source: FeedbackSource | None, out_dir: str) -> FeedbackSnapshot | None:
    """The events ``source`` selects (None when the recipe takes no feedback)."""
    if source is None:
        return None
    path = Path(source.results).expanduser() if source.results else Path(out_dir) / RESULTS_FILE
    if not path.exists():
        raise DataError(f"data.feedback.results: there is no results file at {path}. Point it "
                        "at the results file that `recsys-kit serve` or `recsys-kit feedback` "
                        "wrote to, or remove data.feedback.")
    parts = [_committed(source, path), *_journaled(source, path)]
    events = {c: np.concatenate([p[c] for p in parts]) for c in COLUMNS}
    _, first = np.unique(events["event_id"].astype(str), return_index=True)
    keep = np.sort(first)
    return FeedbackSnapshot(source, path, {c: v[keep] for c, v in events.items()})


def _committed(source: FeedbackSource, path: Path) -> dict[str, np.ndarray]:
    """Selected events of the ``feedback`` table (none when the file predates it)."""
    sql = (f"SELECT {', '.join(COLUMNS)} FROM feedback WHERE list_contains(?, kind) AND "
           "(? IS NULL OR list_contains(?, run_id)) AND (? IS NULL OR value IS NULL OR "
           "value >= ?) ORDER BY ts, received_at, event_id")
    params = [list(source.kinds), source.runs, source.runs, source.min_value, source.min_value]
    # A write transaction, though it only reads: it waits for this process's own writers (a
    # run's heartbeat), with which a read-only connection to the same file cannot coexist.
    with transaction(path) as con:
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name "
                             "= 'feedback'").fetchone()[0]
        rows = con.execute(sql, params).fetchall() if exists else []  # else: an older file
    return _columns([dict(zip(COLUMNS, row, strict=True)) for row in rows])


def _journaled(source: FeedbackSource, path: Path) -> list[dict[str, np.ndarray]]:
    """Selected events still kept aside in the results file's journal."""
    journal, out = Journal(path), []
    for entry in journal.entries():
        call = journal.read(entry)
        if call.operation != "add_feedback":
            continue
        if source.runs is not None and call.kwargs["run_id"] not in source.runs:
            continue
        events = call.kwargs["events"]
        value = np.asarray(events["value"], dtype=np.float64)
        keep = np.isin(np.asarray(events["kind"]).astype(str), source.kinds)
        if source.min_value is not None:
            keep &= np.isnan(value) | (value >= source.min_value)
        out.append({c: np.asarray(events[c])[keep] for c in COLUMNS})
    return out


def _columns(rows: list[dict]) -> dict[str, np.ndarray]:
    return {
        "event_id": np.asarray([r["event_id"] for r in rows], dtype=object),
        "user_id": np.asarray([r["user_id"] for r in rows], dtype=object),
        "item_id": np.asarray([r["item_id"] for r in rows], dtype=object),
        "kind": np.asarray([r["kind"] for r in rows], dtype=object),
        "value": np.asarray([np.nan if r["value"] is None else r["value"] for r in rows],
                            dtype=np.float64),
        "ts": np.asarray([r["ts"] for r in rows], dtype="datetime64[us]"),
    }


def append_feedback(ctx: DataContext, snapshot: FeedbackSnapshot) -> int:
    """Append the snapshot's events to ``interactions`` in ``ctx.con``; return how many."""
    events = snapshot.events
    n = len(events["event_id"])
    if n:
        fb = {c: (v.astype(object) if v.dtype.kind in "OU" else v)  # noqa: F841
              for c, v in events.items()}
        have = {r[0] for r in ctx.con.execute(f"DESCRIBE {INTERACTIONS}").fetchall()}
        values = {
            "user_id": "user_id", "item_id": "item_id",
            "ts": "epoch(ts) + greatest(0, (SELECT coalesce(max(ts), 0) + 1 FROM "
                  f"{INTERACTIONS}) - (SELECT min(epoch(ts)) FROM fb))",
            "rating": "CASE WHEN kind = 'rating' THEN value END",
            "weight": "CAST(NULL AS DOUBLE)",
            "row_no": f"(SELECT coalesce(max(row_no), -1) FROM {INTERACTIONS}) + row_number() "
                      "OVER (ORDER BY ts, event_id)",
        }
        select = ", ".join(f"{sql} AS {name}" for name, sql in values.items() if name in have)
        ctx.con.execute(f"INSERT INTO {INTERACTIONS} BY NAME SELECT {select} FROM fb")
    ctx.report("ingest", f"feedback: {n:,} events ({', '.join(snapshot.source.kinds)}) "
               f"appended from {snapshot.path}")
    return n
