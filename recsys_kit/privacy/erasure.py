"""Erasure: remove users from everything recsys-kit stored in one output folder.

Places: every table of the results file with a ``user_id`` column (recommendations,
explanations, interactions, feedback, ...); every file the ``artifacts`` table lists and every
file under ``<output>/artifacts/`` (Parquet, CSV, JSON, ``.npz`` histories are rewritten
without the user); the data cache (an entry holding the user is dropped: the next run
rebuilds it, leaving erased users out); the writes kept aside in the results file's journal
(``<results>.pending/``, rewritten without the user). Each erasure is recorded in ``erasures`` and
``erasure_places`` under the user's pseudonym, never the raw id; the results file is then
rewritten so that the deleted rows' bytes leave it.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from recsys_kit.errors import PrivacyError, StoreError
from recsys_kit.privacy.artifact_files import WEIGHTS, erase_from_file, holds_bytes
from recsys_kit.privacy.erased import raw_user_ref
from recsys_kit.privacy.key_record import KeyRecord, recorded_key, verify_key
from recsys_kit.privacy.keys import load_key
from recsys_kit.privacy.pending import erase_from_journal
from recsys_kit.privacy.purge import rewrite_without_free_blocks
from recsys_kit.store import ResultStore
from recsys_kit.store.connection import open_db, transaction
from recsys_kit.store.results import now

#: Stored ids shorter than this are not searched for in unknown files' bytes (they would
#: match by chance everywhere: user "42").
MIN_SEARCHED = 8


@dataclass
class UserErasure:
    """One user's erasure: the id stored for them, where they were, and what remains."""

    stored_id: str
    user_ref: str
    places: dict[str, int] = field(default_factory=dict)
    trained_runs: list[str] = field(default_factory=list)
    private_runs: dict[str, float] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        """Rows removed in all places together."""
        return sum(self.places.values())


@dataclass
class ErasureResult:
    """What ``forget`` did (or, with ``dry_run``, would do) for every user asked for."""

    results: Path
    users: list[UserErasure]
    sources: list[str]
    running: list[str]
    dry_run: bool


def _privacy_settings(con: duckdb.DuckDBPyConnection, key_file: Path | None) -> Any:
    """The privacy section the latest pseudonymising run used (``key_file`` overriding)."""
    from recsys_kit.recipe.models import PrivacySection

    row = con.execute("SELECT recipe FROM runs WHERE json_extract(recipe, "
                      "'$.privacy.pseudonymize_users') = 'true' ORDER BY started_at DESC "
                      "LIMIT 1").fetchone()
    settings = PrivacySection.model_validate(json.loads(row[0])["privacy"] if row else {})
    if key_file is not None:
        settings = settings.model_copy(update={"key_file": str(key_file)})
    return settings


def _stored_ids(results: Path, users: Sequence[str], record: KeyRecord | None,
                key_file: Path | None, given_pseudonyms: bool) -> list[tuple[str, str]]:
    """(stored id, audit ref) per user: pseudonyms under the file's key, or raw ids."""
    if record is None:
        if given_pseudonyms:
            raise PrivacyError(f"{results} holds raw user ids, not pseudonyms: give the raw id "
                               "to --user, without --pseudonym.")
        return [(u, raw_user_ref(u)) for u in users]
    if given_pseudonyms:
        return [(u, u) for u in users]
    with open_db(results, read_only=True) as con:
        settings = _privacy_settings(con, key_file)
    key = load_key(settings, results.parent)
    verify_key(results, record, key, record.pseudonym_length)
    return [(p, p) for p in (key.pseudonym(u, record.pseudonym_length) for u in users)]


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT table_name FROM duckdb_columns() WHERE column_name = 'user_id' "
                       "AND database_name = current_database() AND schema_name = 'main' "
                       "ORDER BY table_name").fetchall()
    return [r[0] for r in rows]


def _in_list(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> None:
    con.register("_erased", {"user_id": np.array(list(ids), dtype=object)})


def _files(results: Path, listed: list[str]) -> Iterator[Path]:
    """Every file the artifacts table lists, and every file under artifacts/ and cache/."""
    seen: set[Path] = set()
    folders = [results.parent / "artifacts", results.parent / "cache"]
    candidates = [Path(p) for p in listed]
    for folder in folders:
        if folder.is_dir():
            candidates += sorted(p for p in folder.rglob("*") if p.is_file())
    for path in candidates:
        resolved = path.resolve()
        if resolved not in seen and path.is_file() and not path.is_symlink():
            seen.add(resolved)
            yield path


def _input_paths(params: Any) -> Iterator[str]:
    """Values of every ``path`` key under a stage's params (the files it read)."""
    if isinstance(params, dict):
        for key, value in params.items():
            if key == "path" and isinstance(value, str):
                yield value
            else:
                yield from _input_paths(value)
    elif isinstance(params, list):
        for value in params:
            yield from _input_paths(value)


class Eraser:
    """Finds and removes users from one results file and its output folder."""

    def __init__(self, results: Path, users: list[UserErasure], dry_run: bool) -> None:
        self.results, self.users, self.dry_run = results, users, dry_run
        self.by_id = {u.stored_id: u for u in users}
        self.cache = results.parent / "cache"

    def survey(self) -> tuple[list[str], list[str], list[str], list[str]]:
        """Read what the erasure needs: tables with users, listed artifacts, input files of
        the runs that trained on the users, and runs still running. Marks trained runs."""
        with open_db(self.results, read_only=True) as con:
            _in_list(con, list(self.by_id))
            tables = _user_tables(con)
            listed = [r[0] for r in con.execute("SELECT DISTINCT path FROM artifacts")
                      .fetchall()]
            trained = con.execute(
                "SELECT DISTINCT i.user_id, r.run_id, r.recipe FROM interactions i JOIN runs r "
                "USING (data_key) WHERE i.user_id IN (SELECT user_id FROM _erased) "
                "ORDER BY r.run_id").fetchall()
            running = [r[0] for r in con.execute(
                "SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
        sources: list[str] = []
        for user_id, run_id, recipe in trained:
            entry, recipe = self.by_id[user_id], json.loads(recipe)
            entry.trained_runs.append(run_id)
            dp = (recipe.get("train") or {}).get("privacy")
            if dp:
                entry.private_runs[run_id] = float(dp["target_epsilon"])
            for path in _input_paths(recipe["data"]["ingest"].get("params")):
                if path not in sources:
                    sources.append(path)
        return tables, listed, sources, running

    def erase_files(self, listed: list[str]) -> None:
        """Rewrite (or, for data cache entries, delete) files holding the users."""
        searched = [i for i in self.by_id if len(i) >= MIN_SEARCHED]
        for path in _files(self.results, listed):
            if path.suffix.lower() in WEIGHTS:
                continue
            cache_entry = path.parent == self.cache and path.name.startswith("data-")
            found = erase_from_file(path, self.by_id.keys(), dry_run=self.dry_run or cache_entry)
            if found is None:
                for stored in searched:
                    if holds_bytes(path, [stored]):
                        self.by_id[stored].remaining.append(str(path))
                continue
            place = f"cache {path} (entry dropped)" if cache_entry else f"file {path}"
            for stored, n in found.items():
                self.by_id[stored].places[place] = n
            if found and cache_entry and not self.dry_run:
                path.unlink()
                Path(str(path).removesuffix(".npz") + "-skipped-rows.csv").unlink(
                    missing_ok=True)

    def erase_pending(self) -> None:
        """Rewrite the results file's pending writes (its journal) without the users."""
        for path, found in erase_from_journal(self.results, self.by_id.keys(),
                                              self.dry_run).items():
            for stored, n in found.items():
                self.by_id[stored].places[f"pending write {path}"] = n

    def erase_tables(self, tables: list[str]) -> None:
        """Delete the users' rows from every table with a user_id column; record the
        erasures; all in one transaction."""
        with transaction(self.results) as con:
            _in_list(con, list(self.by_id))
            where = "WHERE user_id IN (SELECT user_id FROM _erased)"
            keys = [r[0] for r in con.execute(
                f"SELECT DISTINCT data_key FROM interactions {where}").fetchall()]
            for table in tables:
                counts = con.execute(f'SELECT user_id, count(*) FROM "{table}" {where} '
                                     "GROUP BY user_id").fetchall()
                for stored, n in counts:
                    self.by_id[stored].places[f"table {table}"] = n
                if counts and not self.dry_run:
                    con.execute(f'DELETE FROM "{table}" {where}')
            if self.dry_run:
                return
            for data_key in keys:
                con.execute("UPDATE datasets SET users = (SELECT count(DISTINCT user_id) FROM "
                            "interactions WHERE data_key = $1), interactions = (SELECT count(*) "
                            "FROM interactions WHERE data_key = $1) WHERE data_key = $1",
                            [data_key])
            stamp = now()
            for user in self.users:
                erasure_id = f"{stamp:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
                con.execute("INSERT INTO erasures (erasure_id, erased_at, user_ref, "
                            "rows_removed, trained_runs, remaining) VALUES (?, ?, ?, ?, ?, ?)",
                            [erasure_id, stamp, user.user_ref, user.rows_removed,
                             json.dumps(user.trained_runs), json.dumps(user.remaining)])
                for place, n in user.places.items():
                    con.execute("INSERT INTO erasure_places (erasure_id, place, rows_removed) "
                                "VALUES (?, ?, ?)", [erasure_id, place, n])

    def verify(self, tables: list[str]) -> None:
        """Every table of the rewritten file is free of the users, by SQL and by bytes."""
        with open_db(self.results, read_only=True) as con:
            _in_list(con, list(self.by_id))
            left = [t for t in tables if con.execute(
                f'SELECT count(*) FROM "{t}" WHERE user_id IN (SELECT user_id FROM _erased)'
            ).fetchone()[0]]
        # The audit names a pseudonymised user by their pseudonym: search raw ids only.
        searched = [i for i, u in self.by_id.items()
                    if len(i) >= MIN_SEARCHED and u.user_ref != i]
        pending = erase_from_journal(self.results, self.by_id.keys(), dry_run=True)
        left += [f"pending write {path.name}" for path in pending]
        if left or (searched and holds_bytes(self.results, searched)):
            raise PrivacyError(
                f"After erasure {self.results} still holds the user(s) "
                f"({', '.join(left) or 'in its bytes'}). Another process may have written them "
                "again: run `recsys-kit forget` again once no run writes to this folder.")


def forget(results: Path, users: Sequence[str], *, key_file: Path | None = None,
           given_pseudonyms: bool = False, dry_run: bool = False) -> ErasureResult:
    """Remove ``users`` (raw ids, or pseudonyms with ``given_pseudonyms``) from ``results``
    and the files of its output folder; with ``dry_run`` only report what would go."""
    if not results.is_file():
        raise StoreError(f"No results file at {results}. Pass the output folder's results file "
                         "with --results.")
    ResultStore(results).migrate()
    record = recorded_key(results)
    ids = _stored_ids(results, list(dict.fromkeys(users)), record, key_file, given_pseudonyms)
    entries = [UserErasure(stored, ref) for stored, ref in dict(ids).items()]
    eraser = Eraser(results, entries, dry_run)
    tables, listed, sources, running = eraser.survey()
    eraser.erase_files(listed)
    eraser.erase_pending()
    eraser.erase_tables(tables)
    if not dry_run:
        rewrite_without_free_blocks(results)
        eraser.verify(tables)
    for entry in entries:
        entry.places = dict(Counter(entry.places).most_common())
    return ErasureResult(results, entries, sources, running, dry_run)
