"""Rewrite a DuckDB file so that deleted rows leave no bytes behind.

DuckDB marks the blocks of deleted rows free and reuses them later; until then their bytes
stay in the file, even after ``CHECKPOINT``. Copying every table into a fresh file and putting
it in place of the old one is what really removes them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from recsys_kit.errors import PrivacyError
from recsys_kit.store.connection import open_db

ATTEMPTS = 5


def _stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def rewrite_without_free_blocks(path: Path) -> None:
    """Replace ``path`` by a fresh copy of its tables (same permissions).

    The copy is made while holding the file read-write; it is put in place while holding it
    read-only (no writer can start meanwhile) and only if nobody wrote between the two,
    otherwise the copy is made again.
    """
    copy = path.with_name(path.name + ".erasing")
    wal = Path(f"{path}.wal")
    for _ in range(ATTEMPTS):
        _remove(copy, Path(f"{copy}.wal"))
        with open_db(path, read_only=False) as con:
            con.execute("CHECKPOINT")
            name = con.execute("SELECT current_database()").fetchone()[0]
            target = str(copy).replace("'", "''")
            con.execute(f"ATTACH '{target}' AS erasure_copy")
            try:
                con.execute(f'COPY FROM DATABASE "{name}" TO erasure_copy')
            finally:
                con.execute("DETACH erasure_copy")
        written = _stamp(path)
        with open_db(path, read_only=True):
            if _stamp(path) == written and not wal.exists():
                os.chmod(copy, path.stat().st_mode & 0o7777)
                os.replace(copy, path)
                return
    _remove(copy, Path(f"{copy}.wal"))
    raise PrivacyError(
        f"Could not rewrite {path}: another process kept writing to it. The rows were deleted, "
        "but their bytes may remain in the file's free blocks until it is rewritten: run "
        "`recsys-kit forget` again when no run is writing to this output folder.")
