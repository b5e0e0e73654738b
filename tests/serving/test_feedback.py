"""Feedback in (files, the command) and back into the data: a retrain sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

import recsys_kit
from recsys_kit.errors import DataError
from recsys_kit.serving.feedback import FeedbackEvent, read_feedback_file, record_feedback
from recsys_kit.serving.feedback_ingest import feedback_snapshot
from recsys_kit.serving.feedback_source import FeedbackSource
from recsys_kit.store import ResultStore
from tests.serving.conftest import Trained, train


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys_kit", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})


def test_csv_and_json_lines_files_are_read_with_ids_per_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "events.csv"
    csv_file.write_text("user_id,item_id,kind,value,ts\n1,5,click,,\n\n"
                        "2,7,rating,4.5,2024-01-01T00:00:00\n3,8,skip,,1700000000\n")
    events, ids = read_feedback_file(csv_file)
    assert [(e.user_id, e.item_id, e.kind, e.value) for e in events] == [
        ("1", "5", "click", None), ("2", "7", "rating", 4.5), ("3", "8", "skip", None)]
    assert events[2].ts == datetime(2023, 11, 14, 22, 13, 20) and len(set(ids)) == 3
    assert read_feedback_file(csv_file)[1] == ids  # the same file gives the same ids
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"user_id": "1", "item_id": "5", "kind": "purchase", "event_id": "e"}\n')
    assert read_feedback_file(lines)[0][0].event_id == "e"


@pytest.mark.parametrize(("text", "says"), [
    ("user_id,item_id,kind\n1,5,click\n2,6,like\n", "line 3: kind: Input should be 'click'"),
    ("user_id,item_id,kind,value\n1,5,rating,\n", "line 2: the event"),
    ("user_id,item_id,kind\n1,5\n", "line 2: 2 fields where the header has 3"),
    ("user_id,item_id,kind,colour\n1,5,click,red\n", "line 2: colour: unknown field"),
    ('{"user_id": "1", "item_id": "5", "kind": "click"}\n{"user_id": \n', "line 2: not valid"),
    ("user_id,item_id,kind\n", "holds no feedback events"),
])
def test_bad_lines_are_named_and_nothing_is_read(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / ("events.jsonl" if text.startswith("{") else "events.csv")
    path.write_text(text)
    with pytest.raises(DataError, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_feedback_file(path)


def test_the_feedback_command_stores_a_file_once(sasrec_run: Trained, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,kind\n1,5,click\n2,6,purchase\n")
    first = cli("feedback", "latest", str(path), "--results", str(sasrec_run.results))
    assert first.returncode == 0, first.stderr
    assert f"2 feedback events for run {sasrec_run.run_id} stored" in " ".join(first.stdout.split())
    again = cli("feedback", sasrec_run.run_id, str(path), "--results", str(sasrec_run.results))
    assert again.returncode == 0, again.stderr
    _, rows = sasrec_run.store.query("SELECT count(*) FROM feedback WHERE source = 'file'")
    assert rows == [(2,)]
    path.write_text("user_id,item_id,kind\n1,5,clicked\n")
    bad = cli("feedback", "latest", str(path), "--results", str(sasrec_run.results))
    assert bad.returncode == 1 and "line 2: kind" in " ".join(bad.stderr.split())
    assert "Traceback" not in bad.stderr


def _events(*rows: tuple) -> list[FeedbackEvent]:
    return [FeedbackEvent(user_id=u, item_id=i, kind=k, value=v, ts=datetime(2030, 1, 1, 0, n))
            for n, (u, i, k, v) in enumerate(rows)]


def test_a_retrain_sees_the_feedback(tmp_path: Path) -> None:
    """Feedback on one run, in the results file; a recipe with data.feedback appends the
    selected events after each user's interactions; the retrained run knows a user that only
    feedback introduced."""
    results = tmp_path / "feedback.duckdb"
    store = ResultStore(results)
    store.migrate()
    record_feedback(store, "served-run", _events(
        ("1", "30", "click", None), ("1", "31", "purchase", None), ("1", "32", "skip", None),
        ("1", "33", "rating", 2.0), ("new-user", "2", "click", None),
        ("new-user", "3", "click", None), ("new-user", "4", "rating", 5.0)), {}, "python")
    record_feedback(store, "other-run", _events(("1", "34", "click", None)), {}, "python")
    retrained = train(tmp_path / "runs", f"data.feedback={{results: '{results}', runs: "
                      "[served-run], min_value: 3}")
    _, rows = retrained.store.query(
        "SELECT i.user_id, i.item_id, i.split FROM interactions i JOIN runs r USING (data_key) "
        "WHERE r.run_id = ? AND i.user_id IN ('1', 'new-user') ORDER BY i.user_id, i.position",
        [retrained.run_id])
    user_1 = [(item, split) for user, item, split in rows if user == "1"]
    assert user_1[-2:] == [("30", "valid"), ("31", "test")]  # skip, low rating, other run out
    assert [(item, split) for user, item, split in rows if user == "new-user"] == [
        ("2", "train"), ("3", "valid"), ("4", "test")]
    run = recsys_kit.load_run(retrained.run_id, results=retrained.results, device="cpu")
    assert run.history_of("new-user") == ["2", "3", "4"]
    assert len(run.recommend(user="new-user", k=5).items) == 5


def test_new_feedback_is_new_data_and_kept_aside_feedback_counts(tmp_path: Path) -> None:
    results = tmp_path / "results.duckdb"
    store = ResultStore(results, write_wait_s=0.1)
    store.migrate()
    source = FeedbackSource(results=str(results))
    empty = feedback_snapshot(source, str(tmp_path))
    assert empty is not None and len(empty.events["event_id"]) == 0
    record_feedback(store, "r", _events(("1", "2", "click", None)), {}, "python")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('holding', flush=True); sys.stdin.read()", str(results)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        receipt = record_feedback(store, "r", _events(("1", "3", "click", None)), {}, "python")
        assert not receipt.committed
    finally:
        holder.communicate("")
    snapshot = feedback_snapshot(source, str(tmp_path))
    assert sorted(snapshot.events["item_id"].tolist()) == ["2", "3"]  # journaled one too
    assert snapshot.fingerprint != empty.fingerprint
    assert np.issubdtype(snapshot.events["ts"].dtype, np.datetime64)
    assert feedback_snapshot(None, str(tmp_path)) is None
    with pytest.raises(DataError, match=r"data\.feedback\.results: there is no results file"):
        feedback_snapshot(FeedbackSource(results=str(tmp_path / "nope.duckdb")), ".")
    older = tmp_path / "older.duckdb"  # a results file from before the feedback table
    duckdb.connect(str(older)).close()
    assert len(feedback_snapshot(FeedbackSource(results=str(older)), ".").events["kind"]) == 0


def test_bad_feedback_settings_are_recipe_errors(tmp_path: Path) -> None:
    from recsys_kit.errors import RecipeError
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.testing import tiny

    registry = make_plugins().registry
    with pytest.raises(RecipeError) as caught:
        validate_mapping(tiny(tmp_path, "data.feedback={kinds: [like], min_vaule: 3}"), registry)
    text = str(caught.value)
    assert "data.feedback.kinds.0" in text and "data.feedback.min_vaule" in text
    assert "did you mean 'min_value'" in text.lower()


def test_ids_keep_their_spaces_as_the_data_stages_read_them() -> None:
    # ' pad' and 'pad' are two users of a CSV (DuckDB keeps the spaces); stripping them made
    # a request about one answer for, and file feedback under, the other.
    from recsys_kit.serving.http import RecommendRequest

    event = FeedbackEvent(user_id=" pad", item_id="i2 ", kind="click")
    assert (event.user_id, event.item_id) == (" pad", "i2 ")
    assert RecommendRequest(user_id=" pad", history=[" x"]).model_dump()["user_id"] == " pad"
    assert RecommendRequest(user_id=" pad", history=[" x"]).history == [" x"]
