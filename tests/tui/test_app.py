"""Pilot-driven tests of every screen, asserting on what the screens contain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from rich.syntax import Syntax
from textual.widgets import DataTable, Input, Label, Static, TabbedContent

from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.compare_screen import CompareScreen
from recsys_kit.tui.help_screen import HelpScreen
from recsys_kit.tui.line_plot import LinePlot
from recsys_kit.tui.queries import Busy
from recsys_kit.tui.run_screen import RunScreen
from recsys_kit.tui.runs_screen import RunsScreen
from recsys_kit.tui.sql_screen import SqlScreen
from recsys_kit.tui.user_screen import UserScreen

from .helpers import cells, column, settle, text_of
from .results_fixture import BERT, GRU, NOW, POP, SASREC

pytestmark = pytest.mark.anyio
MakeApp = Callable[..., RecsysApp]


async def test_runs_listed_newest_first_with_status_and_metrics(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert column(table, 0) == ["gru4rec", "sasrec-big", "bert4rec", "sasrec:popularity",
                                    "sasrec"]
        rows = {r[0]: r for r in cells(table)}
        assert rows["sasrec"][1:4] == ["completed", "01-05 10:00", "5m12s"]
        assert rows["sasrec"][4:7] == ["8", "0.2000", "0.2100"]  # epoch, monitor, test ndcg@10
        assert rows["sasrec"][-1] == "cpu"
        assert rows["gru4rec"][1] == "running" and rows["gru4rec"][3] == "3m20s"
        assert "5 runs" in text_of(app.screen.query_one("#runs-status", Static))


async def test_sort_by_column_and_filter_by_typing(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one("#runs", DataTable)
        await pilot.click("#runs", offset=(2, 0))  # header "name"
        await pilot.pause()
        assert column(table, 0) == sorted(column(table, 0))
        await pilot.press("ctrl+r")
        assert column(table, 0) == sorted(column(table, 0), reverse=True)
        await pilot.press("ctrl+o")  # next column: status
        assert screen.sort_key == "status"
        await pilot.press("b", "e", "r", "t")  # typing starts the filter
        assert screen.query_one("#filter", Input).value == "bert"
        assert column(table, 0) == ["bert4rec"]
        await pilot.press("down")  # back to the list, on the first match
        assert screen.focused is table and screen.current_run() == BERT
        await pilot.press("slash", "escape")
        assert table.row_count == 5 and screen.focused is table


async def test_selecting_a_run_shows_metrics_curves_recipe(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+end", "enter")  # the oldest run: sasrec
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run_id == SASREC
        assert "best epoch 6" in text_of(screen.query_one("#run-summary", Static))
        metrics = cells(screen.query_one("#metrics-table", DataTable))
        assert ["test", "ndcg", "0.1700", "0.2100", "—"] in metrics
        assert ["train", "loss", "—", "—", "1.8140"] in metrics
        await pilot.press("2")
        loss = screen.query_one("#loss-plot", LinePlot)
        assert loss.curve is not None and len(loss.curve.values) == 8
        assert "training loss" in str(loss.render()) and "⠉" in str(loss.render())
        await pilot.press("3")
        recipe = screen.query_one("#recipe-text", Static).content
        assert isinstance(recipe, Syntax) and "plugin: sasrec" in recipe.code
        await pilot.press("4")
        assert "leave_one_out" in column(screen.query_one("#plugins-table", DataTable), 2)
        await pilot.press("5")
        assert column(screen.query_one("#artifacts-table", DataTable), 0)[0] == "best"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_failed_run_opens_on_its_error(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RunScreen(BERT))
        await pilot.pause()
        await pilot.pause()
        assert app.screen.query_one("#run-tabs", TabbedContent).active == "error"
        assert "CUDA out of memory" in text_of(app.screen.query_one("#error-text", Static))


async def test_user_screen_history_recommendations_test_item_and_why(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+end", "ctrl+n")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, UserScreen) and screen.user_id == "1"
        await pilot.press("slash", *"4", "enter")  # jump to user 4 by id
        await pilot.pause()
        assert screen.user_id == "4"
        history = cells(screen.query_one("#history", DataTable))
        assert history and all(" · " in row[1] for row in history)  # titles shown
        recs = cells(screen.query_one("#recs", DataTable))
        marked = [r for r in recs if r[3] == "◀"]
        assert len(marked) == 1 and marked[0][0] == "1"
        summary = text_of(screen.query_one("#user-summary", Static))
        assert summary.startswith("test item at rank 1 of 10: ")
        await pilot.press("slash", *"99", "enter")
        assert "No user '99'" in text_of(screen.query_one("#user-summary", Static))
        assert screen.user_id == "4"
        await pilot.press("escape", "p", "p", "p")  # back to the table, previous users
        assert screen.user_id == "1"
        await pilot.press("down")  # recommendation #2: its why
        why = text_of(screen.query_one("#why", Static))
        assert "why #2" in why and "0.55" in why


async def test_compare_shows_differences_and_jumps_to_users(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+end", "space", "up", "ctrl+p")  # sasrec marked; popularity
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen) and (screen.a, screen.b) == (SASREC, POP)
        metrics = {r[0]: r for r in cells(screen.query_one("#compare-metrics", DataTable))}
        assert metrics["ndcg@10"][1:] == ["0.2100", "0.0945", "-0.1155", "-55.0%", "<.001"]
        assert metrics["hr@10"][-1] == "—"  # no per-user values of it
        label = str(screen.query_one("#compare-metrics-label", Label).render())
        assert "paired t-test, 12 users" in label
        users = cells(screen.query_one("#disagree", DataTable))
        first = users[0][0]
        assert users[0][1] == "4/10"
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, UserScreen)
        assert (app.screen.run_id, app.screen.user_id) == (POP, first)
        await pilot.press("escape", "enter")  # Enter (like a) opens the user under run A
        await pilot.pause()
        assert (app.screen.run_id, app.screen.user_id) == (SASREC, first)


async def test_compare_needs_two_runs(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, RunsScreen)


async def test_sql_console_rows_errors_refusal_history(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        box = screen.query_one("#sql", Input)
        message = screen.query_one("#sql-message", Static)
        box.value = "SELECT name FROM runs ORDER BY name"
        await pilot.press("enter")
        await settle(pilot, app)
        assert column(screen.query_one("#sql-result", DataTable), 0)[0] == "bert4rec"
        assert "5 rows" in text_of(message)
        assert box.value == "SELECT name FROM runs ORDER BY name"  # kept with its rows
        box.value = "DELETE FROM runs"
        await pilot.press("enter")
        await settle(pilot, app)
        assert "read-only" in text_of(message) and "DELETE" in text_of(message)
        box.value = "SELECT nope FROM runs"
        await pilot.press("enter")
        await settle(pilot, app)
        assert "nope" in text_of(message) and box.value == "SELECT nope FROM runs"
        box.value = ""
        await pilot.press("up")
        assert box.value == "SELECT nope FROM runs"
        await pilot.press("up", "up")
        assert box.value == "SELECT name FROM runs ORDER BY name"
        await pilot.press("down", "down", "down")
        assert box.value == ""
    assert app.reader.sql("SELECT count(*) FROM runs").rows == [(5,)]


async def test_help_and_quit(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("ctrl+q")
        assert app.return_code == 0
    for keys in (("ctrl+c",), ("enter", "q")):  # q quits where nothing takes typing
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.return_code is None
            await pilot.press(*keys)
            assert app.return_code == 0


async def test_runs_refresh_while_a_run_writes(make_app: MakeApp, results_copy: Path) -> None:
    app = make_app(results_copy, refresh_s=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        before = {r[0]: r for r in cells(table)}["gru4rec"]
        with duckdb.connect(str(results_copy)) as con:  # the run logs epoch 4, then finishes
            con.execute("INSERT INTO metrics VALUES (?, 'valid', 4, 'ndcg', 10, 0.1777, ?)",
                        [GRU, NOW])
        await pilot.pause(0.3)
        during = {r[0]: r for r in cells(table)}["gru4rec"]
        assert (before[4], before[5]) == ("3", "0.1230")
        assert (during[4], during[5]) == ("4", "0.1777")
        with duckdb.connect(str(results_copy)) as con:
            con.execute("UPDATE runs SET status = 'completed', duration_s = 250 WHERE run_id = ?",
                        [GRU])
        await pilot.pause(0.3)
        after = {r[0]: r for r in cells(table)}["gru4rec"]
        assert after[1:4] == ["completed", "01-05 11:56", "4m10s"]


async def test_run_screen_follows_a_training_run(make_app: MakeApp, results_copy: Path) -> None:
    app = make_app(results_copy, refresh_s=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter", "2")  # gru4rec, the running run, newest first
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.run_id == GRU
        assert "3m20s" in text_of(screen.query_one("#run-summary", Static))
        loss = screen.query_one("#loss-plot", LinePlot)
        assert loss.curve is not None and loss.curve.epochs == [1, 2, 3]
        with duckdb.connect(str(results_copy)) as con:
            con.execute("INSERT INTO metrics VALUES (?, 'train', 4, 'loss', NULL, 2.1, ?)",
                        [GRU, NOW])
        await pilot.pause(0.3)
        assert loss.curve.epochs == [1, 2, 3, 4] and "epoch 4: 2.1000" in str(loss.render())


async def test_busy_file_keeps_the_list_and_says_so(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunsScreen)

        def busy(wait_s: float | None = None) -> list:
            raise Busy("a run is writing")

        monkeypatch.setattr(app.reader, "runs", busy)
        screen.reload(force=True)
        await pilot.pause()
        assert screen.query_one("#runs", DataTable).row_count == 5
        assert "busy" in text_of(screen.query_one("#runs-status", Static))


async def test_a_file_that_is_no_results_file_is_reported(
    make_app: MakeApp, tmp_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    app = make_app(other)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = text_of(app.screen.query_one("#runs-status", Static))
        assert "Cannot read" in status and "results file" in status
        await pilot.press("ctrl+s")
        app.screen.query_one("#sql", Input).value = "SELECT x FROM t"
        await pilot.press("enter")
        await settle(pilot, app)
        assert column(app.screen.query_one("#sql-result", DataTable), 0) == ["1"]
