"""The SQL console's query: one read-only statement on a protected read-only connection
(:mod:`recsys_kit.store.readonly`), stoppable from another thread (Esc, or a time limit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from recsys_kit.store.readonly import SqlResult, checked_statement, fetch

MAX_ROWS = 1000
#: How long a console query may run before it is stopped, in seconds.
TIME_LIMIT_S = 10.0


class QueryStopped(Exception):
    """The query was interrupted: cancelled, or over the time limit."""


class Stopper:
    """Stops a running console query from any thread (DuckDB's ``interrupt``)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def stop(self, reason: str = "Cancelled.") -> None:
        """Ask the query to stop; the first reason given is the one reported."""
        if self.reason is None:
            self.reason = reason

    @contextmanager
    def watching(self, con: duckdb.DuckDBPyConnection,
                 timeout_s: float | None) -> Iterator[None]:
        """While the block runs, interrupt ``con`` once stopped or past ``timeout_s``.

        A watcher thread checks every 20 ms and interrupts again until the block ends, so a
        stop that lands just before the query starts is not lost.
        """
        done = threading.Event()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s

        def watch() -> None:
            while not done.wait(0.02):
                if deadline is not None and time.monotonic() > deadline:
                    self.stop(f"Stopped after {timeout_s:g} s, the console's time limit. "
                              "Narrow the query (a WHERE, a LIMIT) and run it again.")
                if self.reason is not None:
                    con.interrupt()

        watcher = threading.Thread(target=watch, name="sql-watch", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = MAX_ROWS, *,
            timeout_s: float | None = None, stopper: Stopper | None = None) -> SqlResult:
    """Run the one read-only statement in ``sql``; at most ``max_rows`` rows.

    Raises ``SqlRefused`` or ``SqlFailed`` (see :mod:`recsys_kit.store.readonly`), and
    :class:`QueryStopped` when ``stopper`` stops it or it runs past ``timeout_s``.
    """
    statement = checked_statement(con, sql)
    stopper = stopper or Stopper()
    with stopper.watching(con, timeout_s):
        try:
            if stopper.reason is not None:
                raise duckdb.InterruptException("stopped before it started")
            return fetch(con, statement, max_rows)
        except duckdb.InterruptException as exc:
            raise QueryStopped(stopper.reason or "Interrupted.") from exc
