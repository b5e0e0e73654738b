"""Short-lived DuckDB connections: open, one transaction, close; retry while another holds it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from recsys_kit.errors import StoreError
from recsys_kit.interrupts import shielded

#: How long opening the file waits for another process's lock by default, in seconds.
LOCK_WAIT_S = 60.0
#: One writer at a time within this process (the run's thread and its heartbeat).
_WRITER = threading.RLock()


class StoreLocked(StoreError):
    """Another process held the results file for longer than the caller would wait."""


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether a DuckDB error says another process holds the file's lock."""
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def describe_failure(path: Path, exc: BaseException, action: str) -> StoreError:
    """A StoreError for a DuckDB failure on the results file, with the hint that fits it."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if is_lock_conflict(exc):
        return StoreLocked(
            f"Cannot {action} the results file {path}: another program holds it open ({text}). "
            "Close the other program's connection (a DuckDB shell, a notebook) and try again.")
    if "not a valid duckdb database" in low or "corrupt" in low or "checksum" in low or (
            "could not read enough bytes" in low):
        return StoreError(
            f"Cannot {action} the results file {path}: it is not a DuckDB file, or it is "
            f"damaged ({text}). Is it a recsys-kit results file (`recsys-kit run` writes one)? "
            f"recsys-kit never deletes it: to start afresh, move it aside (e.g. `mv {path} "
            f"{path}.broken`), or point output.dir / --results elsewhere.")
    if "no space left" in low or "disk full" in low:
        return StoreError(
            f"Cannot {action} the results file {path}: the disk is full ({text}). Nothing from "
            "this write was stored; earlier results are intact. Free disk space and run again.")
    if "permission denied" in low or "read-only file system" in low:
        return StoreError(
            f"Cannot {action} the results file {path}: {text}. Make the file and its folder "
            "writable, or set output.dir / --results to a writable place.")
    return StoreError(f"Cannot {action} the results file {path}: {text}. Nothing from this "
                      "write was stored; earlier results are intact.")


@contextmanager
def open_db(path: Path, *, read_only: bool, wait_s: float = LOCK_WAIT_S, config: dict | None = None
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``path``, retrying with backoff while another process holds its lock.

    DuckDB lets one process hold a file read-write and excludes everyone else meanwhile, so
    every user of the results file keeps it open for one transaction only. Failing to open is
    a :class:`StoreError` (a :class:`StoreLocked` after ``wait_s`` seconds of lock conflicts).
    """
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config or {})
            break
        except duckdb.Error as exc:
            if not is_lock_conflict(exc) or time.monotonic() > deadline:
                raise describe_failure(path, exc, "read" if read_only else "open") from exc
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.001)))
            delay = min(delay * 2, 0.5)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(path: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection inside one transaction: all of it lands, or none of it.

    A stop request (Ctrl-C, SIGTERM) arriving meanwhile waits until the transaction is over,
    so a COMMIT is never cut in half.
    """
    with shielded(), _WRITER, open_db(path, read_only=False, wait_s=wait_s) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise describe_failure(path, exc, "write to") from exc
            raise
