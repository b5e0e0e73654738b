"""Which pseudonym key a results file's user ids were made with (its identifier, never the key).

A results file holds either raw user ids or pseudonyms under one key and one length: mixing
would link them (the same history stored under both ids), and a second key would silently
start a second, unlinkable set of pseudonyms that erasure could not find.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from recsys_kit.errors import PrivacyError
from recsys_kit.privacy.keys import PseudonymKey
from recsys_kit.store.connection import open_db, transaction
from recsys_kit.store.results import ResultStore, now

FRESH = "use another output.dir (a results file of its own)"


@dataclass(frozen=True)
class KeyRecord:
    """The key a results file's pseudonyms were made with: id, length, where it was read."""

    key_id: str
    pseudonym_length: int
    key_source: str


def _read(con: duckdb.DuckDBPyConnection) -> KeyRecord | None:
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "pseudonym_keys" not in tables:
        return None
    row = con.execute("SELECT key_id, pseudonym_length, key_source FROM pseudonym_keys "
                      "ORDER BY recorded_at LIMIT 1").fetchone()
    return KeyRecord(*row) if row else None


def recorded_key(results: Path) -> KeyRecord | None:
    """The key recorded in ``results``, or None (raw user ids, or no file yet)."""
    if not results.exists():
        return None
    with open_db(results, read_only=True) as con:
        return _read(con)


def verify_key(results: Path, record: KeyRecord, key: PseudonymKey, length: int) -> None:
    """Raise a PrivacyError unless ``key`` and ``length`` are the ones ``record`` names."""
    if key.id != record.key_id:
        raise PrivacyError(
            f"The pseudonym key from {key.source} (key id {key.id}) is not the key the user ids "
            f"in {results} were made with (key id {record.key_id}, read from "
            f"{record.key_source}). Set it to that key; a different key would start a second "
            f"set of pseudonyms that cannot be linked or erased with the first. To start "
            f"afresh, {FRESH}.")
    if length != record.pseudonym_length:
        raise PrivacyError(
            f"privacy.pseudonym_length is {length} but the pseudonyms in {results} are "
            f"{record.pseudonym_length} characters long. Set privacy.pseudonym_length="
            f"{record.pseudonym_length}, or {FRESH}.")


def claim_results_file(results: Path, key: PseudonymKey | None, length: int) -> None:
    """Check that a run may write its user ids into ``results`` and record its key there.

    A run with ``key`` (pseudonymised) is refused where another key or length was recorded,
    and where raw user ids were stored before; a run without one (raw ids) is refused where a
    key was recorded. The first pseudonymised run records its key's id.
    """
    if key is None:
        record = recorded_key(results)
        if record is not None:
            raise PrivacyError(
                f"{results} holds pseudonymised user ids (key id {record.key_id}); this "
                "recipe would store raw user ids next to them, and the same histories under "
                "both ids would link every pseudonym to its person. Set "
                f"privacy.pseudonymize_users: true (with that key), or {FRESH}.")
        return
    ResultStore(results).migrate()
    with transaction(results) as con:
        record = _read(con)
        if record is not None:
            verify_key(results, record, key, length)
            return
        raw = con.execute("SELECT (SELECT count(*) FROM datasets) + "
                          "(SELECT count(*) FROM recommendations)").fetchone()[0]
        if raw:
            raise PrivacyError(
                f"{results} already holds raw user ids from earlier runs; pseudonyms stored "
                "next to them could be linked back through the histories. Send pseudonymised "
                f"runs to a results file of their own: {FRESH}.")
        con.execute("INSERT INTO pseudonym_keys (key_id, pseudonym_length, key_source, "
                    "recorded_at) VALUES (?, ?, ?, ?)", [key.id, length, key.source, now()])
