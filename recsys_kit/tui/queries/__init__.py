"""Headless, read-only queries behind the TUI (no Textual here).

Every call opens the results file read-only, runs its queries and closes it, so a run in
another terminal can write between two refreshes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from recsys_kit.store.readonly import SqlFailed, SqlRefused, SqlResult
from recsys_kit.tui.queries import compare as _compare
from recsys_kit.tui.queries import console, runs, sweeps, users
from recsys_kit.tui.queries.compare import Comparison, Disagreement, MetricDiff
from recsys_kit.tui.queries.console import TIME_LIMIT_S, QueryStopped, Stopper
from recsys_kit.tui.queries.reader import (
    Busy,
    NoResults,
    ReadError,
    Unreadable,
    connect,
    signature,
    unreadable,
)
from recsys_kit.tui.queries.runs import Curve, RunDetail, RunSummary, key_metrics
from recsys_kit.tui.queries.sweeps import SweepDetail, SweepTrial
from recsys_kit.tui.queries.users import HistoryItem, Recommendation, UserView

__all__ = [
    "TIME_LIMIT_S", "Busy", "Comparison", "Curve", "Disagreement", "HistoryItem", "MetricDiff",
    "NoResults", "QueryStopped", "ReadError", "Reader", "Recommendation", "RunDetail",
    "RunSummary", "SqlFailed", "SqlRefused", "SqlResult", "Stopper", "SweepDetail", "SweepTrial",
    "Unreadable", "UserView", "key_metrics",
]

T = TypeVar("T")


class Reader:
    """Read-only access to one results file; each method opens, queries and closes.

    ``wait_s`` bounds how long a call waits for a writer's transaction before raising
    :class:`Busy` (the TUI then retries at its next refresh).
    """

    def __init__(self, path: Path, wait_s: float = 1.0) -> None:
        self.path = Path(path)
        self.wait_s = wait_s

    def signature(self) -> tuple[int, ...]:
        """Changes whenever the file (or its WAL) does."""
        return signature(self.path)

    def _read(self, query: Callable[..., T], *args: object, wait_s: float | None = None,
              allow_artifacts: bool = False) -> T:
        """Run ``query(con, *args)`` on a fresh read-only connection; failures as ReadError."""
        try:
            with connect(self.path, self.wait_s if wait_s is None else wait_s,
                         allow_artifacts) as con:
                return query(con, *args)
        except duckdb.Error as exc:
            raise unreadable(self.path, exc) from exc

    def runs(self, wait_s: float | None = None) -> list[RunSummary]:
        """The runs list, newest first."""
        return self._read(runs.list_runs, wait_s=wait_s)

    def run(self, run_id: str, wait_s: float | None = None) -> RunDetail | None:
        """One run's details."""
        return self._read(runs.run_detail, run_id, self.path, wait_s=wait_s)

    def sweep(self, sweep_id: str, wait_s: float | None = None) -> SweepDetail | None:
        """One sweep with its trials."""
        return self._read(sweeps.sweep_detail, sweep_id, wait_s=wait_s)

    def user(self, run_id: str, user_id: str) -> UserView | None:
        """One user's history and recommendations under a run."""
        return self._read(users.user_view, run_id, user_id)

    def first_user(self, run_id: str) -> str | None:
        """The first user with recommendations from the run (else of its dataset)."""
        return self._read(users.first_user, run_id)

    def neighbour_user(self, run_id: str, user_id: str, step: int) -> str | None:
        """The next (``step=1``) or previous (``step=-1``) user."""
        return self._read(users.neighbour_user, run_id, user_id, step)

    def sample_users(self, run_id: str) -> list[str]:
        """A few user ids, for hints."""
        return self._read(users.sample_users, run_id)

    def compare(self, a: str, b: str) -> Comparison:
        """Runs ``a`` and ``b`` compared (with paired statistics from their per-user files)."""
        return self._read(_compare.compare, a, b, allow_artifacts=True)

    def sql(self, text: str, *, timeout_s: float | None = None,
            stopper: Stopper | None = None) -> SqlResult:
        """A console query: one read-only statement. Raises :class:`SqlRefused` for anything
        else (a write, a file, a setting, several statements), :class:`SqlFailed` when DuckDB
        cannot run it, :class:`QueryStopped` when ``stopper`` stops it or it runs past
        ``timeout_s``."""
        with connect(self.path, self.wait_s) as con:
            return console.run_sql(con, text, timeout_s=timeout_s, stopper=stopper)
