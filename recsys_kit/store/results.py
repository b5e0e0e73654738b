"""The result store: every run's recipe, metrics, recommendations and artifacts in DuckDB."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from recsys_kit.errors import StoreError
from recsys_kit.store.connection import open_db, transaction

RESULTS_FILE = "results.duckdb"

#: Forward-only migrations: version -> SQL file in this package. Never edit a released one.
MIGRATIONS: dict[int, str] = {1: "schema_v1.sql", 2: "schema_v2.sql"}
SCHEMA_VERSION = max(MIGRATIONS)


def now() -> datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def split_metric(key: str) -> tuple[str, int | None]:
    """``'ndcg@10'`` -> ``('ndcg', 10)``; ``'loss'`` -> ``('loss', None)``."""
    name, _, k = key.partition("@")
    return name, int(k) if k else None


class ResultStore:
    """Reads and writes one results file; every method opens, does one transaction, closes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def in_dir(cls, out_dir: str | Path) -> ResultStore:
        """The store of an output directory (``<dir>/results.duckdb``)."""
        return cls(Path(out_dir) / RESULTS_FILE)

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create the file or bring it to the current schema; return the version."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the output directory {self.path.parent}: {exc}. "
                             "Set output.dir to a writable folder.") from exc
        with transaction(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_info "
                        "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)")
            current = con.execute("SELECT max(version) FROM schema_info").fetchone()[0] or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this recsys-kit "
                    f"understands ({SCHEMA_VERSION}). Upgrade recsys-kit or use another output.dir."
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                sql = resources.files("recsys_kit.store").joinpath(MIGRATIONS[version]).read_text()
                con.execute(sql)
                con.execute("INSERT INTO schema_info VALUES (?, ?)", [version, now()])
        return SCHEMA_VERSION

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        run_id: str,
        name: str,
        recipe: Mapping[str, Any],
        source: str,
        versions: Mapping[str, str],
        device: str,
        seed: int,
        monitor: str,
        plugins: Sequence[Mapping[str, Any]],
        parent_run_id: str | None = None,
    ) -> None:
        """Insert the run's row (status ``running``) and the plugins it uses."""
        with transaction(self.path) as con:
            con.execute(
                "INSERT INTO runs (run_id, name, status, parent_run_id, recipe, recipe_source, "
                "versions, device, seed, monitor, started_at) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, name, parent_run_id, json.dumps(recipe), source, json.dumps(versions),
                 device, seed, monitor, now()],
            )
            for p in plugins:
                con.execute(
                    "INSERT INTO run_plugins VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [run_id, p["recipe_path"], p["family"], p["plugin"], p["distribution"],
                     p["version"], json.dumps(p["params"])],
                )

    def set_data_key(self, run_id: str, data_key: str) -> None:
        """Record which dataset (data-stage cache key) the run trained on."""
        with transaction(self.path) as con:
            con.execute("UPDATE runs SET data_key = ? WHERE run_id = ?", [data_key, run_id])

    def finish_run(
        self, run_id: str, status: str, *, best_epoch: int | None = None, error: str | None = None
    ) -> None:
        """Mark the run ``completed``, ``failed`` or ``interrupted``."""
        with transaction(self.path) as con:
            con.execute(
                "UPDATE runs SET status = ?, best_epoch = ?, error = ?, ended_at = ?, "
                "duration_s = epoch(?::TIMESTAMP - started_at) WHERE run_id = ?",
                [status, best_epoch, error, now(), now(), run_id],
            )

    def log_metrics(
        self, run_id: str, split: str, epoch: int | None, values: Mapping[str, float]
    ) -> None:
        """Append metrics in long format (one row per metric and K)."""
        stamp = now()
        rows = [
            [run_id, split, epoch, *split_metric(key), float(value), stamp]
            for key, value in values.items()
        ]
        if not rows:
            return
        with transaction(self.path) as con:
            con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def write_recommendations(
        self, run_id: str, user_ids: np.ndarray, item_ids: np.ndarray, scores: np.ndarray
    ) -> int:
        """Store top-K for every user: ``item_ids`` and ``scores`` are (users, K) arrays.

        Slots scored -inf (a user with fewer than K unseen items) are not stored.
        """
        n_users, k = item_ids.shape
        keep = np.isfinite(scores.reshape(-1))
        recs = {  # noqa: F841 - read by DuckDB's replacement scan below
            "run_id": np.full(int(keep.sum()), run_id, dtype=object),
            "user_id": np.repeat(user_ids.astype(object), k)[keep],
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n_users)[keep],
            "item_id": item_ids.reshape(-1).astype(object)[keep],
            "score": scores.reshape(-1).astype(np.float64)[keep],
        }
        with transaction(self.path) as con:
            con.execute("DELETE FROM recommendations WHERE run_id = ?", [run_id])
            con.execute("INSERT INTO recommendations SELECT run_id, user_id, rank, item_id, score "
                        "FROM recs")
        return int(keep.sum())

    def write_explanations(self, run_id: str, rows: Mapping[str, np.ndarray]) -> None:
        """Store attention weights over history items (columns as in the table)."""
        expl = {"run_id": np.full(len(rows["user_id"]), run_id, dtype=object), **rows}  # noqa: F841
        with transaction(self.path) as con:
            con.execute("INSERT INTO explanations BY NAME SELECT run_id, user_id, rank, "
                        "history_item_id, weight FROM expl")

    def add_artifact(self, run_id: str, name: str, kind: str, path: Path) -> None:
        """Record a file the run wrote."""
        size = path.stat().st_size if path.exists() else None
        with transaction(self.path) as con:
            con.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                        [run_id, name, kind, str(path.resolve()), size, now()])

    def write_dataset(
        self,
        data_key: str,
        user_ids: np.ndarray,
        positions: np.ndarray,
        item_ids: np.ndarray,
        splits: np.ndarray,
        catalogue: Mapping[str, np.ndarray],
    ) -> bool:
        """Store a dataset's sequences and item titles once per data key; False if present."""
        inter = {  # noqa: F841
            "data_key": np.full(len(user_ids), data_key, dtype=object),
            "user_id": user_ids.astype(object),
            "position": positions.astype(np.int32),
            "item_id": item_ids.astype(object),
            "split": splits.astype(object),
        }
        cat = {  # noqa: F841
            "data_key": np.full(len(catalogue["item_id"]), data_key, dtype=object),
            "item_id": catalogue["item_id"].astype(object),
            "title": catalogue["title"].astype(object),
        }
        with transaction(self.path) as con:
            if con.execute("SELECT 1 FROM datasets WHERE data_key = ?", [data_key]).fetchone():
                return False
            con.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?)",
                [data_key, len(np.unique(user_ids)), len(catalogue["item_id"]), len(user_ids),
                 now()],
            )
            con.execute("INSERT INTO interactions SELECT * FROM inter")
            con.execute("INSERT INTO items SELECT * FROM cat")
        return True

    # -- reading ----------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Run a read-only query; return column names and rows."""
        if not self.path.exists():
            raise StoreError(f"No results file at {self.path}. Run a recipe first "
                             "(`recsys-kit run recipes/quickstart.yaml`) or pass --results.")
        with open_db(self.path, read_only=True) as con:
            cur = con.execute(sql, list(params))
            columns = [d[0] for d in cur.description] if cur.description else []
            return columns, cur.fetchall()
