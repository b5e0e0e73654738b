"""`recsys-kit forget`: a user leaves every table, artifact, cache entry and byte of an output
folder; the erasure is audited under the pseudonym; later runs leave the user out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from rich.console import Console

from recsys_kit.data import SequenceData
from recsys_kit.errors import PrivacyError
from recsys_kit.plugins import make_plugins
from recsys_kit.privacy import pseudonym_for
from recsys_kit.privacy.artifact_files import erase_from_file, holds_bytes
from recsys_kit.privacy.erased import raw_user_ref
from recsys_kit.privacy.keys import PseudonymKey
from recsys_kit.privacy.purge import rewrite_without_free_blocks
from recsys_kit.recipe import load_recipe
from recsys_kit.runner.pipeline import Runner
from tests.privacy_data import SECRET, files_holding, raw_ids, recipe_text, text_values, write_data
from tests.test_privacy_run import cli

GONE = raw_ids()[5]
AUDIT = ("erasures", "erasure_places")


def run(folder: Path, privacy: str, *, feedback: bool = False) -> Path:
    """Run the people recipe in this process (``feedback``: with the feedback events of its
    results file); return its output folder."""
    interactions, items = write_data(folder / "data")
    out = folder / "runs"
    recipe = folder / "recipe.yaml"
    text = recipe_text(interactions, items, out, privacy=privacy)
    recipe.write_text(text.replace("data:\n", "data:\n  feedback: {}\n") if feedback else text)
    plugins = make_plugins()
    saved = os.environ.get("RECSYS_KIT_PSEUDONYM_KEY")
    os.environ["RECSYS_KIT_PSEUDONYM_KEY"] = SECRET
    try:
        (outcome,) = Runner(plugins, Console(quiet=True)).run(load_recipe(recipe,
                                                                          plugins.registry))
    finally:
        if saved is None:
            del os.environ["RECSYS_KIT_PSEUDONYM_KEY"]
        else:
            os.environ["RECSYS_KIT_PSEUDONYM_KEY"] = saved
    assert outcome.error is None, outcome.error
    return out


def query(results: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(results), read_only=True) as con:
        return con.execute(sql).fetchall()


def add_feedback_and_bundle(results: Path, run_id: str, users: list[str]) -> None:
    """What other parts write about users: feedback events, extra files in the run's folder
    (the run's own serving bundle, ``serving.npz``, is there already)."""
    with duckdb.connect(str(results)) as con:
        con.executemany("INSERT INTO feedback BY NAME SELECT ? AS event_id, ? AS run_id, "
                        "? AS user_id, 'i1' AS item_id, 'click' AS kind, 1.0 AS value, "
                        "now()::TIMESTAMP AS ts, now()::TIMESTAMP AS received_at, "
                        "'python' AS source", [[f"e{i}", run_id, u] for i, u in enumerate(users)])
    bundle = results.parent / "artifacts" / run_id / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "histories.json").write_text(json.dumps({u: ["i1", "i2"] for u in users}))
    (bundle / "users.csv").write_text("user_id,row\n" + "".join(
        f"{u},{i}\n" for i, u in enumerate(users)))


@pytest.fixture(scope="module")
def forgotten(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("forget")
    out = run(folder, "{pseudonymize_users: true}")
    results = out / "results.duckdb"
    key = PseudonymKey(SECRET.encode(), "test")
    pseudonym = pseudonym_for(GONE, key)
    run_id = query(results, "SELECT run_id FROM runs")[0][0]
    add_feedback_and_bundle(results, run_id, [pseudonym_for(u, key) for u in raw_ids()[:8]])
    before = files_holding(out, [pseudonym])
    proc = cli("forget", "--user", GONE, "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    return {"folder": folder, "out": out, "results": results, "pseudonym": pseudonym,
            "before": before, "run_id": run_id, "console": proc.stdout + proc.stderr}


def test_no_trace_of_the_user_is_left_in_any_file(forgotten: dict[str, Any]) -> None:
    out, pseudonym, results = forgotten["out"], forgotten["pseudonym"], forgotten["results"]
    assert len(forgotten["before"][pseudonym]) >= 2  # the search can find it: cache, Parquet
    assert files_holding(out, [GONE]) == {}
    # the audit names the user by pseudonym (by design): only the results file may hold it
    assert files_holding(out, [pseudonym]) in ({}, {pseudonym: [str(results)]})
    assert pseudonym not in text_values(results, skip=AUDIT)
    others = query(results, "SELECT count(DISTINCT user_id) FROM recommendations")[0][0]
    assert others == len(raw_ids()) - 1


def test_the_erasure_is_audited_under_the_pseudonym(forgotten: dict[str, Any]) -> None:
    results = forgotten["results"]
    ((ref, removed, trained, remaining),) = query(
        results, "SELECT user_ref, rows_removed, trained_runs, remaining FROM erasures")
    assert ref == forgotten["pseudonym"] and removed > 0
    assert json.loads(trained) == [forgotten["run_id"]] and json.loads(remaining) == []
    places = dict(query(results, "SELECT place, rows_removed FROM erasure_places"))
    assert {"table interactions", "table recommendations", "table feedback"} <= set(places)
    assert any(p.endswith("histories.json") for p in places)
    assert any(p.endswith("users.csv") for p in places)
    assert any(p.startswith("cache ") for p in places)
    assert any(p.endswith("per_user_test_metrics.parquet") for p in places)
    assert GONE not in forgotten["console"]


def test_the_command_says_what_still_carries_the_user(forgotten: dict[str, Any]) -> None:
    console = " ".join(forgotten["console"].split())
    assert f"runs trained on this user's data: {forgotten['run_id']}" in console
    assert "retrain them" in console and "interactions.csv" in console
    assert "leave them out at ingest" in console


def test_a_later_run_leaves_the_erased_user_out(forgotten: dict[str, Any]) -> None:
    folder = forgotten["folder"]
    out = run(folder, "{pseudonymize_users: true}")
    users = query(out / "results.duckdb", "SELECT DISTINCT user_id FROM recommendations "
                  "WHERE run_id = (SELECT max(run_id) FROM runs)")
    assert len(users) == len(raw_ids()) - 1
    assert forgotten["pseudonym"] not in {u for (u,) in users}


def test_feedback_does_not_bring_an_erased_user_back(tmp_path: Path) -> None:
    # The erasure filter ran before feedback was appended: the user's later feedback made a
    # retrain train on, and recommend to, them again while it said it left them out.
    out = run(tmp_path, "{pseudonymize_users: true}")
    results = out / "results.duckdb"
    proc = cli("forget", "--user", GONE, "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    run_id = query(results, "SELECT run_id FROM runs")[0][0]
    gone = pseudonym_for(GONE, PseudonymKey(SECRET.encode(), "test"))
    with duckdb.connect(str(results)) as con:  # enough events to be split and trained on
        con.executemany("INSERT INTO feedback BY NAME SELECT ? AS event_id, ? AS run_id, "
                        "? AS user_id, ? AS item_id, 'click' AS kind, 1.0 AS value, "
                        "now()::TIMESTAMP AS ts, now()::TIMESTAMP AS received_at, "
                        "'python' AS source", [[f"e{i}", run_id, gone, f"i{i}"] for i in range(5)])
    run(tmp_path, "{pseudonymize_users: true}", feedback=True)
    users = {u for (u,) in query(results, "SELECT DISTINCT user_id FROM recommendations")}
    assert gone not in users and len(users) == len(raw_ids()) - 1


def test_forget_with_a_wrong_key_is_refused(forgotten: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "wrong.key"
    key.write_text("a-different-key-0123456789abcdef")
    key.chmod(0o600)
    proc = cli("forget", "--user", raw_ids()[6], "--results", str(forgotten["results"]),
               "--key-file", str(key))
    assert proc.returncode == 1 and "not the key" in proc.stderr.replace("\n", " ")


def test_a_file_of_raw_ids_is_rewritten_so_no_byte_of_the_user_is_left(tmp_path: Path) -> None:
    out = run(tmp_path, "{}")
    results = out / "results.duckdb"
    assert str(results) in files_holding(out, [GONE])[GONE]
    proc = cli("forget", "--user", GONE, "--results", str(results), "--dry-run")
    assert proc.returncode == 0 and "would remove" in proc.stdout
    assert str(results) in files_holding(out, [GONE])[GONE]
    proc = cli("forget", "--user", GONE, "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    assert files_holding(out, [GONE]) == {}
    assert GONE not in text_values(results)
    assert query(results, "SELECT user_ref FROM erasures") == [(raw_user_ref(GONE),)]


def test_delete_leaves_the_bytes_and_the_rewrite_removes_them(tmp_path: Path) -> None:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 'someone' || i || '@x.example' AS user_id "
                    "FROM range(2000) t(i)")
        con.execute("DELETE FROM t WHERE user_id = 'someone42@x.example'")
        con.execute("CHECKPOINT")
    path.chmod(0o600)
    assert holds_bytes(path, ["someone42@x.example"])  # DuckDB keeps deleted rows' blocks
    rewrite_without_free_blocks(path)
    assert not holds_bytes(path, ["someone42@x.example"])
    assert holds_bytes(path, ["someone43@x.example"]) and path.stat().st_mode & 0o777 == 0o600
    assert query(path, "SELECT count(*) FROM t") == [(1999,)]


def test_artifact_files_of_each_format_lose_the_user(tmp_path: Path) -> None:
    users = {"gone@x.example"}
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("user_id,v\ngone@x.example,1\nkept@x.example,2\n")
    lines = tmp_path / "b.jsonl"
    lines.write_text('{"user_id": "gone@x.example"}\n{"user_id": "kept@x.example"}\n')
    histories = tmp_path / "c.json"
    histories.write_text(json.dumps({"gone@x.example": [1, 2], "kept@x.example": [3]}))
    parquet = tmp_path / "d.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM (VALUES ('gone@x.example', 1), ('kept@x.example', 2)) "
                    f"t(user_id, v)) TO '{parquet}' (FORMAT parquet)")
    sequences = tmp_path / "e.npz"
    SequenceData(np.array(["kept@x.example", "gone@x.example"]), np.array(["i1", "i2"]),
                 np.array([0, 2, 5]), np.array([1, 2, 1, 2, 1]), np.zeros(5, np.int8)).save(
        sequences)
    for path, n in [(csv_file, 1), (lines, 1), (histories, 1), (parquet, 1), (sequences, 3)]:
        assert erase_from_file(path, users, dry_run=False) == {"gone@x.example": n}, path
        assert not holds_bytes(path, ["gone@x.example"]) and holds_bytes(path, ["kept@x"]), path
    kept = SequenceData.load(sequences)
    assert list(kept.user_ids) == ["kept@x.example"] and list(kept.offsets) == [0, 2]
    unknown = tmp_path / "f.bin"
    unknown.write_bytes(b"\x00gone@x.example\x00")
    assert erase_from_file(unknown, users, dry_run=False) is None


def test_forget_reads_the_key_as_the_runs_did(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from recsys_kit.privacy.erasure import forget
    from recsys_kit.privacy.key_record import claim_results_file
    from recsys_kit.store import ResultStore

    store = ResultStore(tmp_path / "results.duckdb")
    store.migrate()
    recipe = {"privacy": {"pseudonymize_users": True, "key_env": "TEAM_KEY"}}
    store.start_run(run_id="r", name="n", recipe=recipe, source="x", versions={}, device="cpu",
                    seed=1, monitor="ndcg@10", plugins=[])
    key = PseudonymKey(SECRET.encode(), "test")
    claim_results_file(store.path, key, 16)
    monkeypatch.setenv("TEAM_KEY", SECRET)
    result = forget(store.path, ["alice"], dry_run=True)
    assert result.users[0].user_ref == pseudonym_for("alice", key)
    monkeypatch.delenv("TEAM_KEY")
    with pytest.raises(PrivacyError, match="TEAM_KEY"):
        forget(store.path, ["alice"], dry_run=True)


def test_writes_kept_aside_in_the_journal_lose_the_user(tmp_path: Path) -> None:
    from recsys_kit.privacy.pending import erase_from_journal
    from recsys_kit.store import ResultStore
    from recsys_kit.store.results import now

    store = ResultStore(tmp_path / "results.duckdb")
    store.migrate()
    users = np.array(["gone@x.example", "kept@x.example"], dtype=object)
    store.journal.add("write_recommendations", {
        "run_id": "r", "user_ids": users, "item_ids": np.array([["a", "b"], ["c", "d"]],
                                                               dtype=object),
        "scores": np.array([[2.0, 1.0], [4.0, 3.0]]), "at": now()})
    store.journal.add("write_explanations", {"run_id": "r", "method": "attention", "at": now(),
                                             "rows": {"user_id": users[[0, 0, 1]],
                                                      "rank": np.array([1, 2, 1], np.int32),
                                                      "history_item_id": np.array(
                                                          ["a", "b", "c"], dtype=object),
                                                      "weight": np.array([0.5, 0.5, 1.0])}})
    store.journal.add("write_dataset", {
        "data_key": "k", "user_ids": users[[0, 0, 0, 1]], "positions": np.array([0, 1, 2, 0]),
        "item_ids": np.array(["a", "b", "c", "d"], dtype=object),
        "splits": np.array(["train", "valid", "test", "train"], dtype=object),
        "catalogue": {"item_id": np.array(["a", "b", "c", "d"], dtype=object),
                      "title": np.array(["A", "B", "C", "D"], dtype=object)}, "at": now()})
    found = erase_from_journal(store.path, {"gone@x.example"}, dry_run=False)
    assert sorted(c["gone@x.example"] for c in found.values()) == [1, 2, 3]
    for path in store.journal.entries():
        assert not holds_bytes(path, ["gone@x.example"]) and holds_bytes(path, ["kept@x"])
    assert store.merge_pending() == 3
    assert query(store.path, "SELECT user_id, rank, item_id FROM recommendations") == [
        ("kept@x.example", 1, "c"), ("kept@x.example", 2, "d")]
    assert query(store.path, "SELECT user_id, weight FROM explanations") == [
        ("kept@x.example", 1.0)]
    assert query(store.path, "SELECT user_id, item_id FROM interactions") == [
        ("kept@x.example", "d")]
    assert query(store.path, "SELECT count(*) FROM items") == [(4,)]
