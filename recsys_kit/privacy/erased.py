"""Users erased from an output folder: how the audit refers to them, and the list of them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from recsys_kit.store.connection import open_db


def raw_user_ref(raw_id: str) -> str:
    """How the audit names a user of a results file with raw ids: ``sha256:<hex>``.

    Weaker than a pseudonym (anyone with a list of candidate ids can test them), and never
    the raw id itself.
    """
    return "sha256:" + hashlib.sha256(raw_id.encode("utf-8")).hexdigest()


def erased_user_refs(results: Path) -> frozenset[str]:
    """The ``user_ref`` of every erasure recorded in ``results`` (empty without a file)."""
    if not results.exists():
        return frozenset()
    with open_db(results, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "erasures" not in tables:
            return frozenset()
        return frozenset(r[0] for r in con.execute("SELECT user_ref FROM erasures").fetchall())
