"""The result store: every run's recipe, metrics, recommendations and artifacts in DuckDB."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from recsys_kit.errors import StoreError
from recsys_kit.locations import DEFAULT_RESULTS, RESULTS_FILE
from recsys_kit.store import operations
from recsys_kit.store.connection import LOCK_WAIT_S, StoreLocked, open_db, transaction
from recsys_kit.store.journal import Journal
from recsys_kit.store.liveness import owner_alive


def resume_command(run_id: str, results: str | Path) -> str:
    """The command that resumes ``run_id`` from the results file ``results``: with --results
    unless that is where the command looks by default."""
    where = "" if Path(results) == DEFAULT_RESULTS else f" --results {results}"
    return f"recsys-kit run --resume {run_id}{where}"

#: Forward-only migrations: version -> SQL file in this package. Never edit a released one.
MIGRATIONS: dict[int, str] = {1: "schema_v1.sql", 2: "schema_v2.sql", 3: "schema_v3.sql",
                               4: "schema_v4.sql"}
SCHEMA_VERSION = max(MIGRATIONS)
#: How long a run's write waits for another program's lock before it is kept aside instead.
WRITE_WAIT_S = 10.0
#: How long a write waits to merge writes kept aside earlier before it is kept aside too.
MERGE_WAIT_S = 0.5


def now() -> datetime:
    """Current UTC time without tzinfo (DuckDB TIMESTAMP)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ResultStore:
    """Reads and writes one results file; every method opens, does one transaction, closes.

    A write that cannot get the file within ``write_wait_s`` (another program holds it) is
    kept in the file's :class:`~recsys_kit.store.journal.Journal` and merged, in order, by the
    next write or open that can; ``on_delay`` is told once when that first happens.
    """

    def __init__(self, path: str | Path, *, write_wait_s: float | None = None,
                 on_delay: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.write_wait_s = WRITE_WAIT_S if write_wait_s is None else write_wait_s
        self.on_delay = on_delay
        self.journal = Journal(self.path)
        self.delayed = 0

    @classmethod
    def in_dir(cls, out_dir: str | Path, **options: Any) -> ResultStore:
        """The store of an output directory (``<dir>/results.duckdb``)."""
        return cls(Path(out_dir) / RESULTS_FILE, **options)

    # -- schema and recovery ------------------------------------------------------------------

    def migrate(self, wait_s: float = LOCK_WAIT_S) -> int:
        """Create the file or bring it to the current schema, merge writes kept aside, and mark
        runs whose process has vanished as ``lost``; return the schema version."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the output directory {self.path.parent}: {exc}. "
                             "Set output.dir to a writable folder.") from exc
        with transaction(self.path, wait_s) as con:
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
        self.merge_pending(wait_s)
        self.mark_lost()
        return SCHEMA_VERSION

    def mark_lost(self) -> list[str]:
        """Mark every ``running`` run whose process is gone as ``lost``; return their ids."""
        with transaction(self.path) as con:
            running = con.execute("SELECT run_id, pid, host, heartbeat_at FROM runs "
                                  "WHERE status = 'running'").fetchall()
            stamp = now()
            lost = [(run_id, pid, host) for run_id, pid, host, beat in running
                    if not owner_alive(pid, host, beat, stamp)]
            for run_id, pid, host in lost:
                operations.finish_run(
                    con, run_id=run_id, status="lost", best_epoch=None, at=stamp,
                    error=f"The process that ran it ({f'pid {pid} on {host}' if pid else 'unknown'}"
                          ") ended without finishing it (killed, crashed or power loss). Resume "
                          f"it with `{resume_command(run_id, self.path)}`.",
                    keep_best_epoch=True)
        return [run_id for run_id, _, _ in lost]

    def merge_pending(self, wait_s: float = MERGE_WAIT_S) -> int:
        """Replay the writes kept aside, oldest first, in one transaction; return how many."""
        entries = self.journal.entries()
        if not entries:
            return 0
        with transaction(self.path, wait_s) as con:
            calls = [self.journal.read(path) for path in entries]
            for call in calls:
                operations.OPERATIONS[call.operation](con, **call.kwargs)
        for call in calls:
            self.journal.remove(call)
        return len(calls)

    def _write(self, operation: str, **kwargs: Any) -> bool:
        """Apply one operation in its own transaction, or keep it aside when the file stays
        locked (and while earlier writes are still kept aside, so that order holds); return
        True when it was committed, False when it was kept aside."""
        kwargs.setdefault("at", now())
        try:
            self.merge_pending()
            if not self.journal.entries():
                with transaction(self.path, self.write_wait_s) as con:
                    operations.OPERATIONS[operation](con, **kwargs)
                return True
        except StoreLocked:
            pass
        self.journal.add(operation, kwargs)
        self.delayed += 1
        if self.delayed == 1 and self.on_delay is not None:
            self.on_delay(
                f"another program holds {self.path} open (a notebook, a DuckDB shell?); this "
                f"run's results are kept in {self.journal.folder} and merged into the file the "
                "next time recsys-kit opens it. Close the other connection.")
        return False

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
        pid: int | None = None,
        host: str | None = None,
        processes: int = 1,
    ) -> None:
        """Insert the run's row (status ``running``) and the plugins it uses."""
        self._write("start_run", run_id=run_id, name=name, recipe=dict(recipe), source=source,
                    versions=dict(versions), device=device, seed=seed, monitor=monitor,
                    plugins=[dict(p) for p in plugins], parent_run_id=parent_run_id, pid=pid,
                    host=host, processes=processes)

    def restart_run(self, run_id: str, *, attempt: int, pid: int, host: str, device: str,
                    processes: int = 1) -> None:
        """Mark a resumed run ``running`` again, owned by this process."""
        self._write("restart_run", run_id=run_id, attempt=attempt, pid=pid, host=host,
                    device=device, processes=processes)

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's process is alive (skipped while another program holds the
        file: a heartbeat is not worth waiting or keeping for)."""
        with transaction(self.path, wait_s=1.0) as con:
            con.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND status = "
                        "'running'", [now(), run_id])

    def set_data_key(self, run_id: str, data_key: str) -> None:
        """Record which dataset (data-stage cache key) the run trained on."""
        self._write("set_data_key", run_id=run_id, data_key=data_key)

    def finish_run(
        self, run_id: str, status: str, *, best_epoch: int | None = None, error: str | None = None,
        keep_best_epoch: bool = False,
    ) -> None:
        """Mark the run ``completed``, ``failed``, ``interrupted`` or ``lost``
        (``keep_best_epoch``: a recorded best epoch stays when ``best_epoch`` is None)."""
        self._write("finish_run", run_id=run_id, status=status, best_epoch=best_epoch, error=error,
                    keep_best_epoch=keep_best_epoch)

    def log_metrics(
        self, run_id: str, split: str, epoch: int | None, values: Mapping[str, float]
    ) -> None:
        """Store metrics in long format (one row per metric and K); logging the same metric of
        the same run, split and epoch again replaces it."""
        if values:
            self._write("log_metrics", run_id=run_id, split=split, epoch=epoch,
                        values={k: float(v) for k, v in values.items()})

    def write_recommendations(self, run_id: str, user_ids: Any, item_ids: Any, scores: Any) -> int:
        """Store top-K for every user: ``item_ids`` and ``scores`` are (users, K) arrays.

        Slots scored -inf (a user with fewer than K unseen items) are not stored. Returns the
        number of rows stored.
        """
        self._write("write_recommendations", run_id=run_id, user_ids=user_ids,
                    item_ids=item_ids, scores=scores)
        return operations.stored_recommendations(scores)

    def write_explanations(self, run_id: str, rows: Mapping[str, Any],
                           method: str = "attention") -> None:
        """Store the weights of history items behind recommendations (columns as in the table);
        replaces the run's earlier explanations of the same ``method``."""
        self._write("write_explanations", run_id=run_id, rows=dict(rows), method=method)

    def add_artifact(self, run_id: str, name: str, kind: str, path: Path) -> None:
        """Record a file the run wrote (replacing an earlier record of the same name)."""
        size = path.stat().st_size if path.exists() else None
        self._write("add_artifact", run_id=run_id, name=name, kind=kind,
                    path=Path(path).resolve(), size=size)

    def write_dataset(
        self,
        data_key: str,
        user_ids: Any,
        positions: Any,
        item_ids: Any,
        splits: Any,
        catalogue: Mapping[str, Any],
    ) -> None:
        """Store a dataset's sequences and item titles once per data key."""
        self._write("write_dataset", data_key=data_key, user_ids=user_ids, positions=positions,
                    item_ids=item_ids, splits=splits, catalogue=dict(catalogue))

    def add_feedback(self, run_id: str, events: Mapping[str, Any], source: str) -> bool:
        """Store feedback events on ``run_id`` (columns as in ``operations.add_feedback``);
        return True when committed, False when kept aside in the journal (durable either way).
        An event whose ``event_id`` is already stored is skipped."""
        return self._write("add_feedback", run_id=run_id, events=dict(events), source=source)

    # -- sweeps -----------------------------------------------------------------------------

    def start_sweep(self, sweep_id: str, **row: Any) -> None:
        """Insert (or, resumed, reopen) a sweep's row; ``row`` as in ``operations.start_sweep``."""
        self._write("start_sweep", sweep_id=sweep_id, **row)

    def tag_trial(self, run_id: str, sweep_id: str, trial: int, params: Mapping[str, Any]
                  ) -> None:
        """Record that run ``run_id`` is trial ``trial`` of a sweep, with its params."""
        self._write("tag_trial", run_id=run_id, sweep_id=sweep_id, trial=trial,
                    params=dict(params))

    def finish_sweep(self, sweep_id: str, status: str, best_run_id: str | None) -> None:
        """Put a sweep in its end state."""
        self._write("finish_sweep", sweep_id=sweep_id, status=status, best_run_id=best_run_id)

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

    def run_row(self, run_id: str) -> dict[str, Any] | None:
        """One run's row as a mapping (``recipe`` and ``versions`` decoded), or None."""
        columns, rows = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            return None
        row = dict(zip(columns, rows[0], strict=True))
        for key in ("recipe", "versions"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
        return row
