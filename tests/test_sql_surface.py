"""The read-only SQL surface (`recsys_kit.store.readonly`, `recsys-kit sql`, the TUI console):
one reading statement, on a connection that cannot write the results file or touch any other.

Every refused attempt is checked the strong way: the hash of every file (and the list of every
path) under the test's folder is the same before and after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from recsys_kit.errors import StoreError
from recsys_kit.store import ResultStore
from recsys_kit.store.readonly import SqlFailed, SqlRefused, artifacts_dir, one_statement, query

#: Each attempt, and a fragment its refusal must contain (the kind refused, or why).
ESCAPES = {
    "ATTACH 'other.duckdb' AS o (READ_WRITE); DELETE FROM o.runs": "2 statements (ATTACH, DELETE)",
    "ATTACH 'other.duckdb' AS o (READ_WRITE)": "ATTACH statements",
    "ATTACH 'new.duckdb' AS n": "ATTACH statements",
    "COPY (SELECT 1) TO 'victim.txt'": "COPY statements",
    "COPY runs TO 'runs/artifacts/r1/per_user.parquet' (FORMAT parquet)": "COPY statements",
    "COPY runs TO 'runs/artifacts/new.csv'": "COPY statements",
    "EXPORT DATABASE 'dump'": "EXPORT statements",
    "EXPORT DATABASE 'runs/artifacts/dump'": "EXPORT statements",
    "IMPORT DATABASE 'dump'": "results file is opened read-only|reaches outside",
    "SELECT * FROM read_text('secret.txt')": "reaches outside the results file",
    "SELECT * FROM read_csv('secret.txt')": "reaches outside the results file",
    "SELECT * FROM read_blob('runs/artifacts/../../secret.txt')": "reaches outside",
    "SELECT * FROM glob('*')": "reaches outside the results file",
    "SET log_query_path = 'log.txt'": "SET statements",
    "SET profiling_output = 'profile.json'": "SET statements",
    "SET enable_external_access = true": "SET statements",
    "RESET lock_configuration": "SET statements",
    "SET VARIABLE v = 1": "SET statements",
    "PRAGMA enable_profiling": "settings cannot be changed",
    "PRAGMA profiling_output = 'p.json'": "settings cannot be changed",
    "CALL enable_logging(storage = 'file', storage_path = 'logs')": "settings cannot be changed",
    "SELECT * FROM enable_logging(storage = 'file', storage_path = 'logs')": "cannot be changed",
    "INSTALL httpfs": "LOAD statements",
    "LOAD parquet": "LOAD statements",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO 'runs/artifacts/e.csv'": "EXPLAIN of COPY statements",
    "EXPLAIN ANALYZE DELETE FROM runs": "EXPLAIN of DELETE statements",
    "COPY (PIVOT runs ON status) TO 'runs/artifacts/p.csv'": "MULTI statements",
    "DELETE FROM runs": "DELETE statements",
    "UPDATE runs SET name = 'x'": "UPDATE statements",
    "INSERT INTO runs (run_id) VALUES ('x')": "INSERT statements",
    "DROP TABLE metrics": "DROP statements",
    "ALTER TABLE runs RENAME TO r": "ALTER statements",
    "CREATE TABLE t AS SELECT 1": "CREATE statements",
    "CREATE TEMP TABLE t AS SELECT 1": "CREATE statements",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')": "CREATE statements",
    "UPDATE EXTENSIONS": "unnamed statements",
    "VACUUM": "VACUUM statements",
    "BEGIN TRANSACTION": "TRANSACTION statements",
    "WITH d AS (DELETE FROM runs RETURNING *) SELECT * FROM d": "opened read-only",
    "SELECT 1; DELETE FROM runs": "2 statements (SELECT, DELETE)",
    "SELECT 1; SELECT 2": "2 statements",
}


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` -> the SHA-256 of its bytes ('dir' for folders)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(Path(folder, name), root)] = "dir"
        for name in files:
            path = Path(folder, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder (the current directory) with a results file, a run's Parquet artifact, a
    second DuckDB file, and files a query must not reach."""
    store = ResultStore(tmp_path / "runs" / "results.duckdb")
    store.migrate()
    store.start_run(run_id="r1", name="tiny", recipe={}, source="tiny.yaml", versions={},
                    device="cpu", seed=1, monitor="ndcg@10", plugins=[])
    store.finish_run("r1", "completed", best_epoch=1)
    artifact = artifacts_dir(store.path) / "r1" / "per_user.parquet"
    artifact.parent.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 'u1' AS user_id, 0.5 AS ndcg_at_10) TO '{artifact}'")
    store.add_artifact("r1", "per_user_test_metrics", "parquet", artifact)
    with duckdb.connect(str(tmp_path / "other.duckdb")) as con:
        con.execute("CREATE TABLE runs AS SELECT 1 AS x")
    (tmp_path / "victim.txt").write_text("keep me\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("allow_artifacts", [False, True], ids=["plain", "allow-artifacts"])
def test_every_escape_is_refused_and_no_file_changes(workdir: Path, allow_artifacts: bool) -> None:
    results = workdir / "runs" / "results.duckdb"
    for sql, why in ESCAPES.items():
        before = _snapshot(workdir)
        with pytest.raises(SqlRefused) as caught:
            query(results, sql, allow_artifacts=allow_artifacts)
        assert any(part in str(caught.value) for part in why.split("|")), (sql, caught.value)
        assert _snapshot(workdir) == before, f"{sql!r} changed files"
    assert query(results, "SELECT count(*) FROM runs").rows == [(1,)]


def test_artifacts_are_readable_only_with_the_switch_and_only_there(workdir: Path) -> None:
    results = workdir / "runs" / "results.duckdb"
    ((path,),) = query(results, "SELECT path FROM artifacts WHERE name = "
                             "'per_user_test_metrics'").rows
    read = f"SELECT * FROM read_parquet('{path}')"
    with pytest.raises(SqlRefused, match="--allow-artifacts"):
        query(results, read)
    assert query(results, read, allow_artifacts=True).rows == [("u1", 0.5)]
    relative = "SELECT ndcg_at_10 FROM 'runs/artifacts/*/*.parquet'"
    assert query(results, relative, allow_artifacts=True).rows == [(0.5,)]
    with pytest.raises(SqlRefused, match="reads files under the results file's artifacts/"):
        query(results, "SELECT * FROM read_text('secret.txt')", allow_artifacts=True)


def test_reading_statements_are_accepted() -> None:
    for sql in ("SELECT 1", "  from runs ;", "WITH x AS (SELECT 1) SELECT * FROM x",
                "SHOW TABLES", "DESCRIBE runs", "SUMMARIZE runs", "PRAGMA show_tables",
                "CALL pragma_version()", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1",
                "EXPLAIN (FORMAT json) SELECT 1", "PIVOT runs ON status IN ('completed')"):
        assert one_statement(sql).query.strip().rstrip(";").strip()


def test_typos_get_duckdb_message_and_the_tables(workdir: Path) -> None:
    results = workdir / "runs" / "results.duckdb"
    for sql, detail in (("SELCT * FROM runs", 'syntax error at or near "SELCT"'),
                        ("SELECT * FROM nope", "nope does not exist"),
                        ("SELECT nope FROM runs", 'column "nope" not found')):
        with pytest.raises(SqlFailed) as caught:
            query(results, sql)
        message = str(caught.value)
        assert detail in message and "Tables: artifacts, " in message, message
        assert "read-only" not in message and "\n\n" not in message


def test_missing_or_foreign_file_is_a_store_error(workdir: Path) -> None:
    with pytest.raises(StoreError, match="No results file at"):
        query(workdir / "none.duckdb", "SELECT 1")
    with pytest.raises(StoreError, match="Is it a recsys-kit results file"):
        query(workdir / "secret.txt", "SELECT 1")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "recsys_kit", "sql", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_refuses_escapes_and_reads_artifacts_with_the_switch(workdir: Path) -> None:
    before = _snapshot(workdir)
    for sql in ("ATTACH 'other.duckdb' AS o (READ_WRITE); DELETE FROM o.runs",
                "COPY (SELECT 1) TO 'victim.txt'", "SELECT * FROM read_text('secret.txt')"):
        done = _cli(sql, "--results", "runs/results.duckdb", cwd=workdir)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: Refused:"), done.stderr
    assert _snapshot(workdir) == before
    done = _cli("SELECT user_id FROM 'runs/artifacts/r1/per_user.parquet'", "--allow-artifacts",
                "--results", "runs/results.duckdb", "-f", "csv", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["user_id", "u1"]
