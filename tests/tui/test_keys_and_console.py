"""Keys on the runs list, the SQL console in a thread, opening before the first run, exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from recsys_kit.tui import run_tui
from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.compare_screen import CompareScreen
from recsys_kit.tui.run_screen import RunScreen
from recsys_kit.tui.runs_screen import RunsScreen
from recsys_kit.tui.sql_screen import SqlScreen
from recsys_kit.tui.user_screen import UserScreen

from .helpers import column, settle, text_of, until
from .results_fixture import GRU, POP, SASREC

pytestmark = pytest.mark.anyio
MakeApp = Callable[..., RecsysApp]
#: A query that runs far longer than any test waits: a cross join of two large ranges.
SLOW = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000000) b"


async def test_typing_on_the_runs_list_filters_and_never_acts(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table, filt = screen.query_one("#runs", DataTable), screen.query_one("#filter", Input)
        await pilot.press(*"quickstart")  # q would quit, s open SQL, c/o/u/r act
        assert app.return_code is None and app.screen is screen
        assert filt.value == "quickstart" and table.row_count == 0
        await pilot.press("escape")  # clears, back on the list: letters still only filter
        await pilot.press(*"sasrec")
        assert app.screen is screen and filt.value == "sasrec"
        assert sorted(column(table, 0)) == ["sasrec", "sasrec-big", "sasrec:popularity"]
        await pilot.press("escape", "ctrl+o")  # the actions moved to control keys
        assert screen.sort_key == "time"
        await pilot.press("ctrl+r")
        assert screen.sort_key == "time" and not screen.sort_reverse
        footer = {k.key_display: k.description for k in screen.query(FooterKey)}
        assert footer["^q"] == "Quit" and footer["^s"] == "SQL" and footer["^p"] == "Compare"
        assert "q" not in footer and "s" not in footer
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, UserScreen)
        await pilot.press("escape", "ctrl+s")
        assert isinstance(app.screen, SqlScreen)
        await pilot.press("escape")
        table.move_cursor(row=table.get_row_index(SASREC))
        await pilot.press("space")
        table.move_cursor(row=table.get_row_index(POP))
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        await pilot.press("escape", "f5", "q")  # q on the list filters, so the app stays
        assert app.return_code is None and filt.value == "q"


async def open_console(pilot: Pilot, app: RecsysApp) -> SqlScreen:
    """From the runs list, open the SQL console and return it."""
    await pilot.pause()
    await pilot.press("ctrl+s")
    screen = app.screen
    assert isinstance(screen, SqlScreen)
    return screen


async def test_slow_query_stops_at_the_time_limit_without_freezing(make_app: MakeApp) -> None:
    app = make_app(sql_time_limit_s=2)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_console(pilot, app)
        box, message = screen.query_one("#sql", Input), screen.query_one("#sql-message", Static)
        box.value = SLOW
        started = time.monotonic()
        await pilot.press("enter")
        # the UI is free while the query runs (on a busy machine it may have stopped already)
        assert "running" in text_of(message) or "Stopped after" in text_of(message)
        await settle(pilot, app)
        assert time.monotonic() - started < 15
        assert "Stopped after 2 s" in text_of(message) and box.value == SLOW
        box.value = "SELECT 42 AS answer"  # the console works on afterwards
        await pilot.press("enter")
        await settle(pilot, app)
        assert column(screen.query_one("#sql-result", DataTable), 0) == ["42"]


async def test_escape_cancels_a_running_query_then_goes_back(make_app: MakeApp) -> None:
    app = make_app(sql_time_limit_s=120)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_console(pilot, app)
        screen.query_one("#sql", Input).value = SLOW
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert screen.running
        await pilot.press("escape")
        await settle(pilot, app)
        assert "Cancelled" in text_of(screen.query_one("#sql-message", Static))
        assert app.screen is screen and not screen.running
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_run_screen_refresh_does_not_wait_for_a_writer(
    make_app: MakeApp, results_copy: Path
) -> None:
    app = make_app(results_copy, wait_s=5.0)  # a read that waited would take 5 s
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RunScreen(GRU))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.detail is not None
        holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            con = duckdb.connect({str(results_copy)!r})
            print("open", flush=True)
            sys.stdin.readline()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
            screen._signature = None  # as if the file had changed
            started = time.monotonic()
            screen.reload()  # what the timer calls
            assert time.monotonic() - started < 2.5
            assert "gru4rec" in text_of(screen.query_one("#run-summary", Static))
        finally:
            holder.communicate("\n", timeout=30)


async def test_opens_before_the_first_run_and_fills_in(
    make_app: MakeApp, fixture_results: Path, tmp_path: Path
) -> None:
    path = tmp_path / "runs" / "results.duckdb"
    app = make_app(path, refresh_s=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = app.screen.query_one("#runs-status", Static)
        table = app.screen.query_one("#runs", DataTable)
        assert "No results file at" in text_of(status) and table.row_count == 0
        path.parent.mkdir()
        shutil.copy(fixture_results, tmp_path / "incoming.duckdb")
        os.replace(tmp_path / "incoming.duckdb", path)  # appears whole, as a run's would
        await until(pilot, lambda: table.row_count == 5)
        assert "No results file" not in text_of(status)


def test_run_tui_exits_with_the_apps_return_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    codes = iter([1, 0])

    class Finished:
        def __init__(self, results: Path) -> None:
            self.return_code: int | None = None

        def run(self) -> None:
            self.return_code = next(codes)

    monkeypatch.setattr("recsys_kit.tui.app.RecsysApp", Finished)
    with pytest.raises(SystemExit) as crashed:
        run_tui(tmp_path / "results.duckdb")
    assert crashed.value.code == 1
    run_tui(tmp_path / "results.duckdb")  # a clean exit returns
