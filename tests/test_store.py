"""The results store: schema and docs agree, migrations, transactions, read-only queries."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from recsys_kit.errors import StoreError
from recsys_kit.store import ResultStore
from recsys_kit.store.connection import transaction
from recsys_kit.store.results import SCHEMA_VERSION, now

DOCS = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def documented_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        if m := re.match(r"^### (\w+)$", line):
            current = tables.setdefault(m.group(1), {})
        elif (current is not None and (m := re.match(r"^\| (\w+) \| (\w+) \|", line))
              and m.group(1) != "column"):
            current[m.group(1)] = m.group(2)
    return tables


def schema_tables(path: Path) -> dict[str, dict[str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT table_name, column_name, data_type FROM "
                           "information_schema.columns ORDER BY table_name, ordinal_position"
                           ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, {})[column] = dtype
    return out


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    s = ResultStore(tmp_path / "results.duckdb")
    s.migrate()
    return s


def start(store: ResultStore, run_id: str = "r1") -> None:
    store.start_run(run_id=run_id, name="n", recipe={"a": 1}, source="x.yaml",
                    versions={"torch": "2"}, device="cpu", seed=1, monitor="ndcg@10",
                    plugins=[{"recipe_path": "model.encoders.user", "family": "user_encoder",
                              "plugin": "sasrec", "distribution": "recsys-kit",
                              "version": "0.1.0", "params": {"dim": 8}}])


def test_writes_kept_aside_by_an_earlier_version_still_merge(store: ResultStore) -> None:
    # Journal entries written before runs.processes existed name no process count.
    store.journal.add("start_run", {
        "run_id": "old", "name": "n", "recipe": {"a": 1}, "source": "x.yaml",
        "versions": {"torch": "2"}, "device": "cpu", "seed": 1, "monitor": "ndcg@10",
        "plugins": [], "parent_run_id": None, "pid": 1, "host": "h", "at": now()})
    store.journal.add("restart_run", {"run_id": "old", "attempt": 2, "pid": 2, "host": "h",
                                      "device": "cpu", "at": now()})
    assert store.merge_pending() == 2
    _, rows = store.query("SELECT run_id, attempts, processes FROM runs")
    assert rows == [("old", 2, 1)]


def test_docs_and_schema_are_equal(store: ResultStore) -> None:
    assert documented_tables() == schema_tables(store.path)


def test_migrate_is_idempotent_and_versioned(store: ResultStore) -> None:
    assert store.migrate() == SCHEMA_VERSION
    _, rows = store.query("SELECT version FROM schema_info")
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_newer_schema_is_refused_not_altered(store: ResultStore) -> None:
    with duckdb.connect(str(store.path)) as con:
        con.execute("INSERT INTO schema_info VALUES (99, now())")
    with pytest.raises(StoreError, match="newer"):
        store.migrate()


def test_run_lifecycle_and_metrics_long_format(store: ResultStore) -> None:
    start(store)
    store.log_metrics("r1", "valid", 1, {"ndcg@10": 0.5, "loss": 2.0})
    store.finish_run("r1", "completed", best_epoch=1)
    _, rows = store.query("SELECT metric, k, value FROM metrics ORDER BY metric")
    assert rows == [("loss", None, 2.0), ("ndcg", 10, 0.5)]
    _, runs = store.query("SELECT status, best_epoch, duration_s >= 0 FROM runs")
    assert runs == [("completed", 1, True)]


def test_recommendations_are_stored_per_user_and_rank(store: ResultStore) -> None:
    start(store)
    n = store.write_recommendations("r1", np.array(["u1", "u2"]),
                                    np.array([["a", "b"], ["c", "a"]]),
                                    np.array([[0.9, 0.5], [0.8, 0.1]]))
    assert n == 4
    _, rows = store.query("SELECT user_id, rank, item_id FROM recommendations ORDER BY 1, 2")
    assert rows == [("u1", 1, "a"), ("u1", 2, "b"), ("u2", 1, "c"), ("u2", 2, "a")]


def test_a_failed_write_leaves_earlier_results_intact(store: ResultStore) -> None:
    start(store)
    with pytest.raises(StoreError, match="Nothing from this write"), transaction(
            store.path) as con:
        con.execute("DELETE FROM run_plugins")
        con.execute("INSERT INTO runs (run_id) VALUES ('r2')")  # NOT NULL columns missing
    _, rows = store.query("SELECT count(*) FROM runs")
    assert rows == [(1,)]
    _, plugins = store.query("SELECT count(*) FROM run_plugins")
    assert plugins == [(1,)]


def test_every_write_can_be_repeated_without_doubling_rows(store: ResultStore) -> None:
    for _ in range(2):
        start(store)
        store.log_metrics("r1", "valid", 1, {"ndcg@10": 0.5, "loss": 2.0})
        store.add_artifact("r1", "best", "checkpoint", store.path)
        store.write_explanations("r1", {"user_id": np.array(["u"], dtype=object),
                                        "rank": np.array([1], dtype=np.int32),
                                        "history_item_id": np.array(["a"], dtype=object),
                                        "weight": np.array([0.5])})
    counts = {table: store.query(f"SELECT count(*) FROM {table}")[1][0][0]
              for table in ("runs", "run_plugins", "metrics", "artifacts", "explanations")}
    assert counts == {"runs": 1, "run_plugins": 1, "metrics": 2, "artifacts": 1,
                      "explanations": 1}


def test_queries_are_read_only(store: ResultStore) -> None:
    start(store)
    with pytest.raises(duckdb.Error):
        store.query("DELETE FROM runs")
    assert store.query("SELECT count(*) FROM runs")[1] == [(1,)]


def test_querying_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Run a recipe first"):
        ResultStore(tmp_path / "none.duckdb").query("SELECT 1")


def test_dataset_is_stored_once_per_key(store: ResultStore) -> None:
    args = (np.array(["u", "u"]), np.array([0, 1]), np.array(["a", "b"]),
            np.array(["train", "test"]), {"item_id": np.array(["a", "b"]),
                                          "title": np.array(["A", "B"])})
    store.write_dataset("k", *args)
    store.write_dataset("k", *args)
    assert store.query("SELECT count(*) FROM interactions")[1] == [(2,)]


def test_the_resume_hint_names_a_results_file_that_is_not_the_default() -> None:
    from recsys_kit.store import resume_command

    assert resume_command("R1", Path("runs/results.duckdb")) == "recsys-kit run --resume R1"
    assert resume_command("R1", "out/results.duckdb") == (
        "recsys-kit run --resume R1 --results out/results.duckdb")
