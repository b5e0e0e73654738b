"""Owner-only files: what a privacy-minded run writes is readable by its owner alone.

Two layers, because neither is enough alone: the process umask (077) while the run lasts
makes every file and folder be *born* private, whoever creates it (DuckDB's database and WAL,
NumPy's and safetensors' temporary files, plugins); a sweep with ``chmod`` at the start and
the end fixes what existed before (a results file made by an earlier run) and anything
created with an explicit mode. Only recsys-kit's own paths are swept: ``output.dir`` may be
a folder that holds other things.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recsys_kit.store.results import RESULTS_FILE

PRIVATE_UMASK = 0o077
#: Files and folders of an output folder that recsys-kit writes (others are left alone).
OWN_PATHS = (RESULTS_FILE, f"{RESULTS_FILE}.wal", f"{RESULTS_FILE}.tmp",
             f"{RESULTS_FILE}.pending", "cache", "artifacts")


def _private(path: Path) -> None:
    """Remove group and other permissions from one file or folder we own."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)


def make_private(out_dir: Path) -> None:
    """Sweep recsys-kit's paths under ``out_dir`` (and their contents) to owner-only."""
    for name in OWN_PATHS:
        top = out_dir / name
        if not top.exists():
            continue
        _private(top)
        if top.is_dir() and not top.is_symlink():
            for folder, dirs, files in os.walk(top):
                for entry in [*dirs, *files]:
                    _private(Path(folder) / entry)


@contextmanager
def owner_only(out_dir: Path, enabled: bool = True) -> Iterator[None]:
    """While the block runs, new files are private (umask 077); before and after it, the
    output folder (when the block creates it) and recsys-kit's files in it are made so."""
    if not enabled:
        yield
        return
    created = not out_dir.exists()
    previous = os.umask(PRIVATE_UMASK)
    try:
        if out_dir.exists():
            make_private(out_dir)
        yield
    finally:
        os.umask(previous)
        if out_dir.exists():
            if created:
                _private(out_dir)
            make_private(out_dir)
