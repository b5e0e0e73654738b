"""Short-lived DuckDB connections: open, one transaction, close; retry while another holds it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from recsys_kit.errors import StoreError

LOCK_WAIT_S = 60.0


@contextmanager
def open_db(path: Path, *, read_only: bool, wait_s: float = LOCK_WAIT_S) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """Open ``path``, retrying with backoff while another process holds its lock.

    DuckDB lets one process hold a file read-write and excludes everyone else meanwhile, so
    every user of the results file keeps it open for one transaction only.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise StoreError(
                    f"Cannot open the results file {path}: {exc}. If another program holds it "
                    "open (a DuckDB shell, a notebook), close it and try again."
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection inside one transaction: all of it lands, or none of it."""
    with open_db(path, read_only=False) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
                con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error):
                raise StoreError(
                    f"Could not write to the results file {path}: {exc}. Nothing from this "
                    "write was stored; earlier results are intact. Free disk space (or fix the "
                    "cause above) and run again."
                ) from exc
            raise
