"""Remove users from the writes a run kept aside in the results file's journal.

A write that could not get the results file (another program held it) waits as one ``.npz``
file in ``<results>.pending/`` (:mod:`recsys_kit.store.journal`) until the next writer merges
it. Such a file holds user ids too (recommendations, explanations, a dataset's sequences), so
an erasure rewrites it without them, keeping its name (the journal replays in name order).

Within one file, an array named ``user_id`` or ``user_ids`` marks rows: every array of the
same argument (the top level, or one mapping argument such as ``rows``) with as many rows is
filtered with it, so a recommendation list, an explanation or a sequence goes with its user.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np

from recsys_kit.store.journal import Journal

ARRAY = "array:"
USER_ARRAYS = ("user_id", "user_ids")


def _group(name: str) -> tuple[str, str]:
    """``array:rows.user_id`` -> (``rows``, ``user_id``); ``array:user_ids`` -> ("", ...)."""
    outer, _, inner = name[len(ARRAY):].rpartition(".")
    return outer, inner


def erase_from_pending(path: Path, users: Collection[str], dry_run: bool) -> Counter:
    """Rows per user in one pending write, rewritten without them unless ``dry_run``."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    wanted = np.array(sorted(users), dtype=str)
    found: Counter = Counter()
    masks: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        group, leaf = _group(name) if name.startswith(ARRAY) else ("", "")
        if leaf in USER_ARRAYS and array.ndim == 1:
            gone = np.isin(array.astype(str), wanted)
            found.update(str(u) for u in array[gone])
            masks[group] = ~gone
    if not found or dry_run:
        return found
    kept = {}
    for name, array in arrays.items():
        keep = masks.get(_group(name)[0]) if name.startswith(ARRAY) else None
        fits = keep is not None and array.ndim >= 1 and len(array) == len(keep)
        kept[name] = array[keep] if fits else array
    tmp = path.with_name(f".{path.stem}-{secrets.token_hex(3)}.erasing.npz")
    with tmp.open("wb") as handle:
        np.savez(handle, **kept)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    tmp.replace(path)
    return found


def erase_from_journal(results: Path, users: Collection[str], dry_run: bool
                       ) -> dict[Path, Counter]:
    """Rows per user in each pending write of ``results`` that holds any of ``users``."""
    out = {}
    for path in Journal(results).entries():
        try:
            found = erase_from_pending(path, users, dry_run)
        except FileNotFoundError:  # merged meanwhile by a writer: nothing left to erase
            continue
        if found:
            out[path] = found
    return out
