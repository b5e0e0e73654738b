"""The privacy step between ingest and split: pseudonyms, erased users, columns kept.

It runs on the in-memory DuckDB tables an ingest stage created, before anything is cached or
stored, so every later stage, cache, result and log sees only what it leaves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_kit.columns import INTERACTIONS, ITEMS
from recsys_kit.errors import DataError
from recsys_kit.privacy.columns import (
    DROPPABLE_INTERACTION_COLUMNS,
    named_side_columns,
    unknown_drop_error,
)
from recsys_kit.privacy.erased import erased_user_refs, raw_user_ref
from recsys_kit.privacy.key_record import claim_results_file
from recsys_kit.privacy.keys import PseudonymKey, load_key
from recsys_kit.store.results import RESULTS_FILE

if TYPE_CHECKING:
    import duckdb

    from recsys_kit.recipe.loader import LoadedRecipe
    from recsys_kit.runner.context import DataContext


@dataclass
class DataPrivacy:
    """What the privacy step does to one recipe's data, and what the data cache key needs."""

    pseudonym_length: int
    key: PseudonymKey | None = None
    keep_columns: list[str] = field(default_factory=list)
    drop_columns: list[str] = field(default_factory=list)
    erased: frozenset[str] = frozenset()

    @classmethod
    def of(cls, loaded: LoadedRecipe) -> DataPrivacy:
        """Load the key (when pseudonymising), check it against the results file and record
        it there, and read the users erased from that output folder."""
        settings = loaded.recipe.privacy
        out_dir = Path(loaded.recipe.output.dir)
        key = load_key(settings, out_dir) if settings.pseudonymize_users else None
        results = out_dir / RESULTS_FILE
        claim_results_file(results, key, settings.pseudonym_length)
        return cls(settings.pseudonym_length, key, sorted(named_side_columns(loaded)),
                   list(settings.drop_columns), erased_user_refs(results))

    def fingerprint(self) -> dict[str, Any]:
        """What the data cache key must depend on: the key's identity (never the key), the
        columns kept and dropped, and the erased users."""
        erased = hashlib.sha256("\n".join(sorted(self.erased)).encode()).hexdigest()[:16]
        return {"pseudonym_key_id": self.key.id if self.key else None,
                "pseudonym_length": self.pseudonym_length if self.key else None,
                "keep_columns": self.keep_columns, "drop_columns": sorted(self.drop_columns),
                "erased": erased if self.erased else None}

    def apply(self, ctx: DataContext) -> None:
        """Run the step on ``ctx.con``'s ``interactions`` (and ``items``) tables."""
        con = ctx.con
        if self.key is not None:
            self._pseudonymize(ctx)
        self.leave_out_erased(ctx)
        items = _columns(con, ITEMS)
        side = [c for c in items if c != "item_id"]
        for column in self.drop_columns:
            if column not in side and column not in DROPPABLE_INTERACTION_COLUMNS:
                raise DataError(unknown_drop_error(column, side))
        dropped = [c for c in side if c in self.drop_columns or c not in self.keep_columns]
        for column in dropped:
            con.execute(f"ALTER TABLE {ITEMS} DROP COLUMN {_id(column)}")
        emptied = [c for c in DROPPABLE_INTERACTION_COLUMNS if c in self.drop_columns]
        for column in emptied:
            con.execute(f"UPDATE {INTERACTIONS} SET {_id(column)} = NULL")
        if dropped or emptied:
            kept = [c for c in side if c not in dropped]
            ctx.report("privacy", f"item columns kept: {', '.join(kept) or 'none'}; dropped: "
                       f"{', '.join([*dropped, *emptied])} (not named by the recipe, or in "
                       "privacy.drop_columns)")

    def _pseudonymize(self, ctx: DataContext) -> None:
        """Replace ``interactions.user_id`` with pseudonyms; two users on one is an error."""
        assert self.key is not None
        con = ctx.con
        raw = con.execute(f"SELECT DISTINCT user_id FROM {INTERACTIONS}").fetchnumpy()["user_id"]
        pseudo = np.array([self.key.pseudonym(str(u), self.pseudonym_length) for u in raw],
                          dtype=object)
        if len(np.unique(pseudo)) != len(pseudo):
            raise DataError(
                f"Two of the {len(raw):,} users get the same {self.pseudonym_length}-character "
                "pseudonym. Raise privacy.pseudonym_length (e.g. to "
                f"{min(self.pseudonym_length + 8, 64)}) and run again.")
        mapping = {"raw": np.asarray(raw, dtype=object), "pseudo": pseudo}
        con.register("_privacy_pseudonyms", mapping)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {INTERACTIONS} AS SELECT i.* REPLACE "
                        "(m.pseudo AS user_id) FROM interactions i JOIN _privacy_pseudonyms m "
                        "ON i.user_id = m.raw ORDER BY i.row_no")
        finally:
            con.unregister("_privacy_pseudonyms")
        ctx.report("privacy", f"{len(raw):,} user ids replaced by pseudonyms (key id "
                   f"{self.key.id})")

    def leave_out_erased(self, ctx: DataContext) -> None:
        """Delete the interactions of users erased from this output folder (also run after
        feedback is appended: an erased user's later feedback must not bring them back)."""
        if not self.erased:
            return
        con = ctx.con
        users = con.execute(f"SELECT DISTINCT user_id FROM {INTERACTIONS}").fetchnumpy()["user_id"]
        refs = [str(u) if self.key is not None else raw_user_ref(str(u)) for u in users]
        gone = [str(u) for u, ref in zip(users, refs, strict=True) if ref in self.erased]
        if not gone:
            return
        con.register("_privacy_erased", {"user_id": np.array(gone, dtype=object)})
        try:
            n = con.execute(f"DELETE FROM {INTERACTIONS} WHERE user_id IN "
                            "(SELECT user_id FROM _privacy_erased)").fetchall()[0][0]
        finally:
            con.unregister("_privacy_erased")
        ctx.report("privacy", f"left out {len(gone)} erased user(s) ({n:,} interactions): "
                   "`recsys-kit forget` removed them from this output folder")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                       "ORDER BY column_index", [table]).fetchall()
    return [r[0] for r in rows]


def _id(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
