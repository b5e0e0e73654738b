"""The headless part of the TUI: queries, read-only SQL, plotting, formatting, imports."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest

from recsys_kit.tui import plot
from recsys_kit.tui.formatting import fmt_bytes, fmt_duration, fmt_timing, fmt_value, non_finite
from recsys_kit.tui.queries import (
    Busy,
    NoResults,
    QueryStopped,
    Reader,
    SqlFailed,
    SqlRefused,
    Stopper,
    key_metrics,
)

from .results_fixture import BERT, GRU, POP, SASREC


def test_runs_list_has_status_monitor_and_test_metrics(fixture_results: Path) -> None:
    listed = Reader(fixture_results).runs()
    runs = {r.run_id: r for r in listed}
    assert listed[0].name == "gru4rec"  # newest first
    assert runs[SASREC].status == "completed" and runs[SASREC].epoch == 8
    assert runs[SASREC].monitor_value == pytest.approx(0.2)  # valid ndcg@10 at best epoch 6
    assert runs[SASREC].test["ndcg@10"] == pytest.approx(0.21)
    assert runs[GRU].status == "running" and runs[GRU].test == {}
    assert key_metrics(list(runs.values()), limit=2) == ["ndcg@10", "hr@10"]


def test_run_detail_metrics_curves_plugins_artifacts(fixture_results: Path) -> None:
    d = Reader(fixture_results).run(SASREC)
    assert d is not None and d.best_epoch == 6 and d.metrics_epoch == 6
    assert ("test", "ndcg", 10, pytest.approx(0.21)) in d.metrics
    assert d.loss.epochs == list(range(1, 9)) and d.monitor_curve.label == "valid ndcg@10"
    assert ("model.encoders.user", "user_encoder", "sasrec", "recsys-kit", "0.1.0") in d.plugins
    assert [a[0] for a in d.artifacts] == ["best", "per_user_test_metrics"]
    assert d.recipe["name"] == "sasrec"
    failed = Reader(fixture_results).run(BERT)
    assert failed is not None and "CUDA out of memory" in (failed.error or "")
    assert Reader(fixture_results).run("nope") is None


def test_user_view_history_recommendations_test_item_and_why(fixture_results: Path) -> None:
    view = Reader(fixture_results).user(SASREC, "1")
    assert view is not None
    assert [h.position for h in view.history] == sorted(h.position for h in view.history)
    assert all(h.split != "test" for h in view.history) and len(view.test_items) == 1
    assert view.history[0].title  # titles joined from items
    assert [r.rank for r in view.recommendations] == list(range(1, 11))
    assert view.test_rank() == 2
    assert len(view.explanations[1]) == 3 and view.explanations[1][0][2] == pytest.approx(0.55)
    assert Reader(fixture_results).user(SASREC, "no-such-user") is None
    assert Reader(fixture_results).neighbour_user(SASREC, "1", 1) == "2"
    assert Reader(fixture_results).neighbour_user(SASREC, "1", -1) is None


def test_compare_orders_users_by_disagreement(fixture_results: Path) -> None:
    c = Reader(fixture_results).compare(SASREC, POP)
    ndcg = next(m for m in c.metrics if m.key == "ndcg@10")
    assert ndcg.delta == pytest.approx(0.0945 - 0.21)
    shared = [u.shared / u.k for u in c.users]
    assert shared == sorted(shared) and len(c.users) == 12
    assert ndcg.paired is not None and ndcg.paired.n == 12 and ndcg.paired.p_value < 0.001
    assert c.paired_note is None


def test_compare_says_why_there_are_no_p_values(fixture_results: Path) -> None:
    c = Reader(fixture_results).compare(SASREC, BERT)  # the failed run has no per-user file
    assert all(m.paired is None for m in c.metrics)
    assert c.paired_note is not None and "no per-user test metrics" in c.paired_note


def test_sql_reads_and_refuses_writes(fixture_results: Path) -> None:
    reader = Reader(fixture_results)
    result = reader.sql("SELECT name FROM runs WHERE status = 'failed'")
    assert result.columns == ["name"] and result.rows == [("bert4rec",)]
    for write in ("DELETE FROM runs", "INSERT INTO runs SELECT * FROM runs",
                  "CREATE TABLE t AS SELECT 1", "DROP TABLE runs",
                  "COPY runs TO 'out.csv'", "ATTACH 'other.duckdb' AS o",
                  "SET log_query_path = 'q.log'", "SET profiling_output = 'p.json'",
                  "PRAGMA enable_profiling", "EXPLAIN ANALYZE COPY runs TO 'out.csv'",
                  "WITH d AS (DELETE FROM runs RETURNING *) SELECT * FROM d"):
        with pytest.raises(SqlRefused, match=r"read-only|cannot be changed"):
            reader.sql(write)
    with pytest.raises(SqlRefused, match=r"2 statements \(SELECT, UPDATE\); run one"):
        reader.sql("SELECT 1; UPDATE runs SET name = 'x'")
    with pytest.raises(SqlRefused, match="reaches outside the results file"):
        reader.sql("SELECT * FROM read_text('/etc/passwd')")
    assert reader.sql("SELECT count(*) FROM runs").rows == [(5,)]
    for empty in (";", "-- nothing"):
        with pytest.raises(SqlFailed, match="no SQL statement"):
            reader.sql(empty)
    with pytest.raises(SqlFailed, match=r"(?s)SELCT.*Tables: artifacts, "):
        reader.sql("SELCT 1")
    assert reader.sql("SHOW TABLES").rows[0] == ("artifacts",)
    big = reader.sql("SELECT * FROM range(5000)")
    assert big.truncated and len(big.rows) == 1000


def test_missing_file_and_busy_file(tmp_path: Path, results_copy: Path) -> None:
    with pytest.raises(NoResults, match="No results file"):
        Reader(tmp_path / "none.duckdb").runs()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(results_copy)!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(Busy):
            Reader(results_copy).runs(wait_s=0)
    finally:
        holder.communicate("\n", timeout=30)
    assert Reader(results_copy).runs()  # readable again once the writer closed


def test_sql_stops_at_its_time_limit_or_when_stopped(fixture_results: Path) -> None:
    slow = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000000) b"
    reader = Reader(fixture_results)
    started = time.monotonic()
    with pytest.raises(QueryStopped, match=r"Stopped after 0\.2 s"):
        reader.sql(slow, timeout_s=0.2)
    stopper = Stopper()
    threading.Timer(0.2, stopper.stop, ["Cancelled."]).start()
    with pytest.raises(QueryStopped, match="Cancelled"):
        reader.sql(slow, stopper=stopper)
    assert time.monotonic() - started < 20
    assert reader.sql("SELECT 1", timeout_s=0.2).rows == [(1,)]


def test_neighbours_include_users_without_recommendations(results_copy: Path) -> None:
    with duckdb.connect(str(results_copy)) as con:
        con.execute("DELETE FROM recommendations WHERE run_id = ? AND user_id = '2'", [SASREC])
    reader = Reader(results_copy)
    assert reader.neighbour_user(SASREC, "1", 1) == "2"
    assert reader.neighbour_user(SASREC, "2", 1) == "3"
    assert reader.first_user(BERT) == "1" and reader.sample_users(BERT) == ["1", "2", "3"]
    view = reader.user(SASREC, "2")
    assert view is not None and view.history and not view.recommendations


def test_non_finite_values() -> None:
    drawn = plot.render([1, 2, 3, 4], [4.0, math.nan, 2.5, math.inf], width=30, height=8)
    assert drawn.rows[0][0].startswith("4.0000") and drawn.rows[-1][0].startswith("2.5000")
    assert non_finite([1, 2, 3, 4], [1.0, math.nan, math.inf, math.nan]) == \
        "nan at epochs 2, 4; inf at epoch 3"
    assert non_finite(list(range(6)), [math.nan] * 6) == "nan at 6 epochs from 0"
    assert fmt_value(math.nan) == "nan" and fmt_value(None) == "—"
    assert fmt_timing({"epoch_seconds": 10.84, "sequences_per_s": 2780.4}, 3) == \
        "training: 10.8 s/epoch · 2,780 seq/s (mean of 3 epochs)"


def test_plot_draws_a_falling_line_with_axes() -> None:
    drawn = plot.render([1, 2, 3, 4], [4.0, 3.0, 2.5, 2.0], width=30, height=8, mark=3)
    assert len(drawn.rows) == 6
    assert drawn.rows[0][0].startswith("4.0000") and drawn.rows[-1][0].startswith("2.0000")
    assert drawn.rows[0][1][0] != " " and drawn.rows[-1][1][-1] != " "  # top-left to bottom-right
    assert "▲" in drawn.axis and drawn.xlabels.split() == ["1", "4"]
    flat = plot.render([1], [0.5], width=20, height=5)
    assert any(dots.strip() for _, dots in flat.rows)


def test_formatting() -> None:
    assert fmt_duration(4.43) == "4.4s" and fmt_duration(125) == "2m05s"
    assert fmt_duration(3720) == "1h02m" and fmt_duration(None) == "—"
    assert fmt_bytes(3364) == "3.3 KiB" and fmt_bytes(12) == "12 B"


def test_headless_modules_do_not_import_textual() -> None:
    code = ("import sys, recsys_kit.tui, recsys_kit.tui.queries, recsys_kit.tui.plot, "
            "recsys_kit.tui.run_columns, recsys_kit.tui.formatting, recsys_kit.tui.sweep_view; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_vanished_run_says_how_to_resume_it_from_this_file(tmp_path: Path) -> None:
    from recsys_kit.store import ResultStore
    from recsys_kit.store.liveness import this_host

    results = tmp_path / "elsewhere" / "results.duckdb"
    store = ResultStore(results)
    store.migrate()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid of this host that no longer runs
    store.start_run(run_id="r1", name="gone", recipe={}, source="gone.yaml", versions={},
                    device="cpu", seed=1, monitor="ndcg@10", plugins=[], pid=dead.pid,
                    host=this_host())
    detail = Reader(results).run("r1")
    assert detail is not None and detail.status == "lost"
    assert f"recsys-kit run --resume r1 --results {results}" in detail.error
