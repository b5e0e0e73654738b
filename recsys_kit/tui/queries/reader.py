"""Short-lived read-only access to the results file: open, query, close (never kept open).

Every connection is the SQL surface's protected one (:func:`recsys_kit.store.readonly.
open_readonly`): the TUI's own queries and the console's share one DuckDB configuration, so
that they can overlap in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from recsys_kit.errors import StoreError
from recsys_kit.store.readonly import open_readonly


class ReadError(StoreError):
    """The results file could not be read; the screens show the message and carry on."""


class NoResults(ReadError):
    """The results file does not exist (yet): no run has written to it."""


class Busy(ReadError):
    """A writer holds the results file right now; try again at the next refresh."""


class Unreadable(ReadError):
    """The file cannot be opened or queried: not a DuckDB file, not a results file, or an
    unknown schema. Retrying does not help until the file changes."""


def unreadable(path: Path, exc: BaseException) -> Unreadable:
    """An :class:`Unreadable` that quotes ``exc``."""
    return Unreadable(f"Cannot read {path}: {str(exc).strip()} Is it a recsys-kit results file "
                      "(`recsys-kit run` writes one)?")


def _is_lock_conflict(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


@contextmanager
def connect(path: Path, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``path``, closed on exit.

    DuckDB lets nobody open a file that another process holds read-write, so a writer's
    transaction shows up as :class:`Busy` after ``wait_s`` seconds of retrying. Any other
    failure to open (an empty file, a text file, a newer format) is :class:`Unreadable`.
    Errors raised by the queries inside the block pass through unchanged.
    """
    if not path.exists():
        raise NoResults(f"No results file at {path} yet; the list fills in once a run writes "
                        "it (`recsys-kit run recipes/quickstart.yaml`), or pass --results.")
    stack = ExitStack()
    try:
        con = stack.enter_context(open_readonly(path, wait_s=wait_s))
    except (StoreError, duckdb.Error) as exc:
        if _is_lock_conflict(exc):
            raise Busy(f"The results file is busy (a run is writing to it): {exc}") from exc
        raise unreadable(path, exc.__cause__ or exc) from exc
    with stack:
        yield con


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
