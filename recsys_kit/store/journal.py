"""Writes that could not wait for the results file, kept durably beside it until merged.

When another program holds the results file longer than a writer may wait (a notebook with an
open connection), the write is not lost and the run does not fail: the call (the store
operation's name and its arguments) is saved as one ``.npz`` file in ``<results>.pending/``,
flushed to disk before the writer goes on, and replayed in order the next time a writer gets
the file. Every store operation is idempotent, so a replay interrupted after its commit and
before its file was removed does no harm when it runs again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

_counter = itertools.count()


@dataclass(frozen=True)
class PendingWrite:
    """One saved call: the store operation and its keyword arguments."""

    path: Path
    operation: str
    kwargs: dict[str, Any]


def _encode(value: Any) -> Any:
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__path__" in value:
            return Path(value["__path__"])
        if "__datetime__" in value:
            return datetime.fromisoformat(value["__datetime__"])
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _arrays(kwargs: dict[str, Any]) -> Iterator[tuple[str, np.ndarray]]:
    """Every array among the arguments, also inside a mapping argument: (dotted name, array)."""
    for name, value in kwargs.items():
        if isinstance(value, np.ndarray):
            yield name, value
        elif isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(key, str) and isinstance(inner, np.ndarray):
                    yield f"{name}.{key}", inner


class Journal:
    """The pending writes of one results file, in the folder ``<results>.pending``."""

    def __init__(self, results: Path) -> None:
        self.folder = results.with_name(results.name + ".pending")

    def entries(self) -> list[Path]:
        """Pending writes, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.npz"))

    def add(self, operation: str, kwargs: dict[str, Any]) -> Path:
        """Save one call durably (written, flushed and renamed into place) and return its file.

        Arrays are stored as plain arrays (object arrays of strings as unicode), never pickled.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        kinds: dict[str, str] = {}
        for name, array in _arrays(kwargs):
            as_object = array.dtype == object
            arrays[f"array:{name}"] = array.astype(str) if as_object else array
            kinds[name] = "object" if as_object else "plain"
        plain = {k: v for k, v in kwargs.items() if not isinstance(v, np.ndarray)}
        plain = {k: ({kk: vv for kk, vv in v.items() if f"{k}.{kk}" not in kinds}
                     if isinstance(v, dict) else v) for k, v in plain.items()}
        meta = json.dumps({"operation": operation, "kwargs": _encode(plain), "arrays": kinds})
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):06d}"
        tmp = self.folder / f".{name}-{secrets.token_hex(3)}.tmp.npz"
        with tmp.open("wb") as handle:
            np.savez(handle, __meta__=np.array(meta), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.folder / f"{name}.npz"
        tmp.replace(final)
        _fsync_dir(self.folder)
        return final

    def read(self, path: Path) -> PendingWrite:
        """Load one saved call."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            kwargs = _decode(meta["kwargs"])
            for name, kind in meta["arrays"].items():
                array = z[f"array:{name}"]
                value = array.astype(object) if kind == "object" else array
                outer, _, inner = name.partition(".")
                if inner:
                    kwargs.setdefault(outer, {})[inner] = value
                else:
                    kwargs[outer] = value
        return PendingWrite(path, meta["operation"], kwargs)

    def remove(self, entry: PendingWrite) -> None:
        """Forget a replayed call (another writer may have removed it already)."""
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
