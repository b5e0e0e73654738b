"""The SQL console's query: read-only twice over (statement check and read-only file), and
stoppable from another thread (Esc, or a time limit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

#: Statement kinds the console runs; everything else would write (or attach, load, copy out).
READ_KINDS = frozenset({
    duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA,
    duckdb.StatementType.CALL, duckdb.StatementType.SET, duckdb.StatementType.VARIABLE_SET,
})

MAX_ROWS = 1000
#: How long a console query may run before it is stopped, in seconds.
TIME_LIMIT_S = 10.0


class WriteRefused(Exception):
    """The query would change something; the console is read-only."""


class QueryStopped(Exception):
    """The query was interrupted: cancelled, or over the time limit."""


@dataclass(frozen=True)
class SqlResult:
    """Columns and rows of the last statement; ``truncated`` when more than ``MAX_ROWS``."""

    columns: list[str]
    rows: list[tuple]
    truncated: bool


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


def _kind(statement: duckdb.Statement) -> str:
    return str(statement.type).rsplit(".", 1)[-1].replace("_", " ")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Raise :class:`WriteRefused` when any statement in ``sql`` is not a read; else return
    how many statements there are."""
    statements = con.extract_statements(sql)
    for statement in statements:
        if statement.type not in READ_KINDS:
            raise WriteRefused(
                f"Refused: {_kind(statement)} statements are not allowed. The SQL console is "
                "read-only; the results file is written only by `recsys-kit run`.")
    return len(statements)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = MAX_ROWS, *,
            timeout_s: float | None = None, stopper: Stopper | None = None) -> SqlResult:
    """Run every statement in ``sql`` (after :func:`check_read_only`); return the last result.

    Raises :class:`QueryStopped` when ``stopper`` stops it or it runs past ``timeout_s``.
    """
    if not check_read_only(con, sql):
        return SqlResult([], [], False)
    stopper = stopper or Stopper()
    with stopper.watching(con, timeout_s):
        try:
            if stopper.reason is not None:
                raise duckdb.InterruptException("stopped before it started")
            cur = con.execute(sql)
            if cur is None or cur.description is None:
                return SqlResult([], [], False)
            rows = cur.fetchmany(max_rows + 1)
        except duckdb.InterruptException as exc:
            raise QueryStopped(stopper.reason or "Interrupted.") from exc
        except duckdb.InvalidInputException as exc:
            if "read-only" in str(exc):
                raise WriteRefused(
                    f"Refused: the results file is opened read-only ({exc}).") from exc
            raise
    return SqlResult([d[0] for d in cur.description], rows[:max_rows], len(rows) > max_rows)
