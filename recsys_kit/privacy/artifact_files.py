"""Remove users from the files a run wrote: Parquet, CSV/TSV, JSON (lines), NumPy ``.npz``.

Each reader returns the rows it found per stored user id (and rewrites the file without them
unless ``dry_run``), or None for a format it does not know; the caller then searches the
file's bytes instead.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path

import duckdb
import numpy as np

#: Files that hold model weights, never user ids: they are the trained runs' concern.
WEIGHTS = (".safetensors", ".pt", ".bin", ".ckpt")
USER_COLUMN = "user_id"


def _sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.erasing")


def _put_in_place(new: Path, path: Path) -> None:
    """Move ``new`` over ``path``, keeping ``path``'s permissions."""
    os.chmod(new, path.stat().st_mode & 0o7777)
    os.replace(new, path)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def erase_parquet(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Rows of ``users`` in a Parquet file with a ``user_id`` column."""
    with duckdb.connect() as con:
        source = f"read_parquet({_sql_text(str(path))})"
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        if USER_COLUMN not in names:
            return Counter()
        con.register("_erased", {"user_id": np.array(sorted(users), dtype=object)})
        where = f"CAST({USER_COLUMN} AS VARCHAR) IN (SELECT user_id FROM _erased)"
        found = Counter(dict(con.execute(
            f"SELECT CAST({USER_COLUMN} AS VARCHAR), count(*) FROM {source} WHERE {where} "
            "GROUP BY ALL").fetchall()))
        if found and not dry_run:
            new = _sibling(path)
            con.execute(f"COPY (SELECT * FROM {source} WHERE NOT ({where})) TO "
                        f"{_sql_text(str(new))} (FORMAT parquet)")
            _put_in_place(new, path)
        return found


def erase_delimited(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Rows of ``users`` in a CSV (or TSV) file whose header names ``user_id``."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows or USER_COLUMN not in rows[0]:
        return Counter()
    at = rows[0].index(USER_COLUMN)
    found = Counter(r[at] for r in rows[1:] if len(r) > at and r[at] in users)
    if found and not dry_run:
        new = _sibling(path)
        with new.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=delimiter).writerows(
                r for i, r in enumerate(rows) if i == 0 or len(r) <= at or r[at] not in users)
        _put_in_place(new, path)
    return found


def erase_json_lines(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Records of ``users`` in a JSON-lines file of objects with a ``user_id`` field."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep, found = [], Counter()
    for line in lines:
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            return None
        user = str(record.get(USER_COLUMN)) if isinstance(record, dict) else None
        if user in users:
            found[user] += 1
        else:
            keep.append(line)
    if found and not dry_run:
        new = _sibling(path)
        new.write_text("".join(keep), encoding="utf-8")
        _put_in_place(new, path)
    return found


def erase_json(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Entries of ``users`` in a JSON object keyed by user id, or a list of records with a
    ``user_id`` field; None for any other shape."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(document, dict):
        found = Counter({k: 1 for k in document if k in users})
        kept: object = {k: v for k, v in document.items() if k not in users}
    elif isinstance(document, list) and all(isinstance(r, dict) for r in document):
        found = Counter(str(r.get(USER_COLUMN)) for r in document
                        if str(r.get(USER_COLUMN)) in users)
        kept = [r for r in document if str(r.get(USER_COLUMN)) not in users]
    else:
        return None
    if found and not dry_run:
        new = _sibling(path)
        new.write_text(json.dumps(kept), encoding="utf-8")
        _put_in_place(new, path)
    return found


def erase_sequences(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Sequences of ``users`` in a ``SequenceData`` file (``user_ids`` + ``offsets``); None for
    other ``.npz`` files. Found counts are the users' interactions."""
    from recsys_kit.data import SequenceData, as_strings, unpack_strings

    with np.load(path, allow_pickle=False) as z:
        if not {"user_ids", "user_ids__text"} & set(z.files) or "offsets" not in z.files:
            return None
        user_ids, offsets = unpack_strings(z, "user_ids"), z["offsets"]
    gone = np.isin(user_ids, as_strings(users))
    found = Counter({str(u): int(offsets[i + 1] - offsets[i])
                     for i, u in enumerate(user_ids) if gone[i]})
    if found and not dry_run:
        data = SequenceData.load(path)
        lengths = np.diff(data.offsets)
        keep_rows = np.repeat(~gone, lengths)
        offsets = np.zeros(int((~gone).sum()) + 1, dtype=data.offsets.dtype)
        np.cumsum(lengths[~gone], out=offsets[1:])
        data.user_ids, data.offsets = data.user_ids[~gone], offsets
        data.items, data.split = data.items[keep_rows], data.split[keep_rows]
        if data.ratings is not None:
            data.ratings = data.ratings[keep_rows]
        mode = path.stat().st_mode & 0o7777
        data.save(path)
        os.chmod(path, mode)
    return found


READERS: dict[str, Callable[[Path, Collection[str], bool], Counter | None]] = {
    ".parquet": erase_parquet, ".csv": erase_delimited, ".tsv": erase_delimited,
    ".jsonl": erase_json_lines, ".ndjson": erase_json_lines, ".json": erase_json,
    ".npz": erase_sequences,
}


def erase_from_file(path: Path, users: Collection[str], dry_run: bool) -> Counter | None:
    """Rows per user removed from ``path`` (found, when ``dry_run``); None when its format is
    unknown or it cannot be read as its suffix says."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        return None
    try:
        return reader(path, users, dry_run)
    except (OSError, ValueError, UnicodeDecodeError, duckdb.Error):
        return None


#: How files store text: UTF-8 (DuckDB, Parquet, CSV, JSON), UTF-16 and UTF-32 (NumPy).
ENCODINGS = ("utf-8", "utf-16-le", "utf-32-le")


def holds_bytes(path: Path, needles: Collection[str]) -> bool:
    """Whether any of ``needles`` occurs in the file's bytes, in any of ``ENCODINGS``."""
    wanted = [n.encode(e) for n in needles if n for e in ENCODINGS]
    if not wanted:
        return False
    overlap = max(len(w) for w in wanted) - 1
    tail = b""
    with contextlib.suppress(OSError), path.open("rb") as f:
        while chunk := f.read(1 << 20):
            window = tail + chunk
            if any(w in window for w in wanted):
                return True
            tail = window[-overlap:] if overlap else b""
    return False
