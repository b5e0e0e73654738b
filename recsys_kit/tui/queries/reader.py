"""Short-lived read-only access to the results file: open, query, close (never kept open)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from recsys_kit.errors import StoreError
from recsys_kit.store.connection import open_db


class ReadError(StoreError):
    """The results file could not be read; the screens show the message and carry on."""


class NoResults(ReadError):
    """The results file does not exist (yet): no run has written to it."""


class Busy(ReadError):
    """A writer holds the results file right now; try again at the next refresh."""


class Unreadable(ReadError):
    """The file opened but the query failed: not a results file, or an unknown schema."""


@contextmanager
def connect(path: Path, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``path``, closed on exit.

    DuckDB lets nobody open a file that another process holds read-write, so a writer's
    transaction shows up as :class:`Busy` after ``wait_s`` seconds of retrying.
    """
    if not path.exists():
        raise NoResults(f"No results file at {path} yet. Run a recipe "
                        "(`recsys-kit run recipes/quickstart.yaml`) or pass --results.")
    try:
        with open_db(path, read_only=True, wait_s=wait_s) as con:
            yield con
    except StoreError as exc:
        if isinstance(exc, NoResults | Busy):
            raise
        raise Busy(f"The results file is busy (a run is writing to it): {exc}") from exc
    except duckdb.IOException as exc:
        raise Busy(f"The results file could not be read right now: {exc}") from exc


def signature(path: Path) -> tuple[int, ...]:
    """Size and modification time of the file and its WAL: unchanged means nothing new."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
        except OSError:
            out += [-1, -1]
        else:
            out += [st.st_size, st.st_mtime_ns]
    return tuple(out)
