"""Data the screens must show as it is: markup-like text, nan, files that are no results file,
timings, users without recommendations, runs without a monitor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Static, TabbedContent

from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.line_plot import LinePlot
from recsys_kit.tui.queries import Reader, Unreadable
from recsys_kit.tui.queries.runs import TIMINGS
from recsys_kit.tui.run_screen import RunScreen
from recsys_kit.tui.runs_screen import RunsScreen
from recsys_kit.tui.user_screen import UserScreen

from .helpers import cells, column, rendered, settle, text_of
from .results_fixture import BERT, BIG, GRU, POP, SASREC

pytestmark = pytest.mark.anyio
MakeApp = Callable[..., RecsysApp]


def execute(path: Path, *statements: str) -> None:
    """Change the results file (as a run would)."""
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


async def test_markup_like_text_shows_literally(make_app: MakeApp, results_copy: Path) -> None:
    with duckdb.connect(str(results_copy)) as con:
        first, second = (r[0] for r in con.execute(
            "SELECT DISTINCT item_id FROM interactions WHERE user_id = '1' AND split = 'train' "
            "ORDER BY item_id LIMIT 2").fetchall())
        con.execute("UPDATE items SET title = 'Tale [/x] two' WHERE item_id = ?", [first])
        con.execute("UPDATE items SET title = 'Abbey Road [remastered]' WHERE item_id = ?",
                    [second])
        con.execute("UPDATE run_plugins SET distribution = '[bold]dist' WHERE run_id = ?",
                    [SASREC])
    app = make_app(results_copy)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        app.screen.query_one("#sql", Input).value = (
            "SELECT title AS \"[b]title\" FROM items WHERE title LIKE '%[%' ORDER BY title")
        await pilot.press("enter")
        await settle(pilot, app)
        table = app.screen.query_one("#sql-result", DataTable)
        shown = rendered(table)
        assert "[b]title" in shown and "Abbey Road [remastered]" in shown
        assert "Tale [/x] two" in shown
        await pilot.press("escape")
        app.push_screen(UserScreen(SASREC, "1"))
        await pilot.pause()
        history = app.screen.query_one("#history", DataTable)
        labels = column(history, 1)
        assert f"{first} · Tale [/x] two" in labels and f"{second} · Abbey Road [remastered]" \
            in labels
        assert "Abbey Road [remastered]" in rendered(history)
        assert all(isinstance(c, Text) for row in range(history.row_count)
                   for c in history.get_row_at(row))
        await pilot.press("escape")
        app.push_screen(RunScreen(SASREC))
        await pilot.pause()
        await pilot.press("4")
        assert "[bold]dist" in column(app.screen.query_one("#plugins-table", DataTable), 3)


async def test_nan_loss_and_weights_are_shown_not_drawn(
    make_app: MakeApp, results_copy: Path
) -> None:
    execute(results_copy,
            f"UPDATE metrics SET value = 'nan' WHERE run_id = '{SASREC}' AND split = 'train' "
            "AND metric = 'loss' AND epoch IN (2, 6)",
            f"UPDATE metrics SET value = 'inf' WHERE run_id = '{SASREC}' AND split = 'valid' "
            "AND metric = 'ndcg' AND k = 10 AND epoch = 3",
            f"UPDATE explanations SET weight = 'nan' WHERE run_id = '{SASREC}' AND user_id = '1' "
            "AND rank = 2 AND weight > 0.5")
    app = make_app(results_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(RunScreen(SASREC))
        await pilot.pause()
        screen = app.screen
        assert ["train", "loss", "—", "—", "nan"] in cells(screen.query_one("#metrics-table"))
        await pilot.press("2")
        await pilot.pause()
        loss, monitor = screen.query_one("#loss-plot", LinePlot), screen.query_one("#monitor-plot")
        assert "nan at epochs 2, 6 (not drawn)" in rendered(loss)
        assert "inf at epoch 3 (not drawn)" in rendered(monitor)
        assert "⠉" in rendered(loss) or "⠈" in rendered(loss)  # the finite points are drawn
        app.push_screen(UserScreen(SASREC, "1"))
        await pilot.pause()
        await pilot.press("down")  # recommendation #2, whose heaviest weight is nan
        assert "nan" in text_of(app.screen.query_one("#why", Static))


@pytest.mark.parametrize("content", [b"", b"just some text, not a database\n"])
async def test_a_file_that_is_no_duckdb_file_is_unreadable_not_busy(
    make_app: MakeApp, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "results.duckdb"
    path.write_bytes(content)
    with pytest.raises(Unreadable, match="not a valid DuckDB database file"):
        Reader(path).runs()
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = text_of(app.screen.query_one("#runs-status", Static))
        assert status.startswith("unreadable: Cannot read")
        assert "not a valid DuckDB database file" in status and "busy" not in status


async def test_timings_are_one_line_and_latest_epoch_is_validated(
    make_app: MakeApp, results_copy: Path
) -> None:
    detail = Reader(results_copy).run(SASREC)
    assert detail is not None and not [m for m in detail.metrics if m[1] in TIMINGS]
    assert detail.timing == {"epoch_seconds": pytest.approx(10.8), "eval_seconds":
                             pytest.approx(1.6), "sequences_per_s": pytest.approx(278.0)}
    execute(results_copy,  # the running run logs epoch 4's loss; validation has not run yet
            f"INSERT INTO metrics VALUES ('{GRU}', 'train', 4, 'loss', NULL, 2.0, now())")
    running = Reader(results_copy).run(GRU)
    assert running is not None and running.metrics_epoch == 3
    assert {s for s, *_ in running.metrics} == {"valid", "train"}
    app = make_app(results_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RunScreen(SASREC))
        await pilot.pause()
        metrics = app.screen.query_one("#metrics-table", DataTable)
        assert [r[1] for r in cells(metrics) if r[0] == "train"] == ["loss"]
        assert text_of(app.screen.query_one("#timing", Static)) == \
            "training: 10.8 s/epoch · eval 1.6 s · 278 seq/s (mean of 8 epochs)"


async def test_users_without_recommendations(make_app: MakeApp, results_copy: Path) -> None:
    execute(results_copy,
            f"DELETE FROM recommendations WHERE run_id = '{SASREC}' AND user_id = '5'")
    app = make_app(results_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(UserScreen(SASREC, "5"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UserScreen)
        summary = text_of(screen.query_one("#user-summary", Static))
        assert summary.startswith("no recommendations stored for this user · test item: ")
        assert "top 0" not in summary and screen.query_one("#recs", DataTable).row_count == 0
        await pilot.press("n")
        assert screen.user_id == "6"
        await pilot.press("p", "p")
        assert screen.user_id == "4"
        app.push_screen(UserScreen(BERT))  # a failed run: no recommendations at all
        await pilot.pause()
        failed = app.screen
        assert isinstance(failed, UserScreen) and failed.user_id == "1"
        assert "no recommendations stored" in text_of(failed.query_one("#user-summary", Static))
        await pilot.press("n")
        assert failed.user_id == "2" and failed.query_one("#history", DataTable).row_count


async def test_monitor_column_time_sort_missing_values_and_opening_tab(
    make_app: MakeApp, results_copy: Path
) -> None:
    execute(results_copy,
            f"UPDATE runs SET monitor = NULL, seed = NULL WHERE run_id = '{BERT}'",
            f"UPDATE runs SET monitor = 'hr@10' WHERE run_id = '{BIG}'")
    app = make_app(results_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one("#runs", DataTable)
        index = [c.key for c in screen._columns].index("monitor")
        assert str(table.ordered_columns[index].label).startswith("ndcg@10")  # names it
        monitor = dict(zip(column(table, 0), column(table, index), strict=True))
        assert monitor["sasrec"] == "0.2000" and monitor["bert4rec"] == "—"
        assert monitor["sasrec-big"].startswith("hr@10 0.")
        shown = table.ordered_columns[:index + 1]  # in view at 80 columns, with the name
        assert sum(c.get_render_width(table) for c in shown) <= 80 - 2
        await pilot.press("ctrl+o")  # by time, longest first: the running run by its 3m20s
        assert [row.key.value for row in table.ordered_rows] == [SASREC, GRU, BIG, BERT, POP]
        app.push_screen(RunScreen(BERT))
        await pilot.pause()
        summary = text_of(app.screen.query_one("#run-summary", Static))
        assert "None" not in summary and "seed —" in summary and "monitor —" in summary
        assert not app.screen.query_one("#monitor-plot", LinePlot).display
        app.push_screen(RunScreen(BIG))  # interrupted, with metrics: opens on them
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#run-tabs", TabbedContent).active == "metrics"
        execute(results_copy, f"DELETE FROM metrics WHERE run_id = '{BIG}'")
        app.push_screen(RunScreen(BIG))  # interrupted before any metric: opens on the error
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#run-tabs", TabbedContent).active == "error"
