"""The Textual app: navigation between screens, driven by the messages in ``messages.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType

from recsys_kit.store.results import now
from recsys_kit.tui.compare_screen import CompareScreen
from recsys_kit.tui.help_screen import HelpScreen
from recsys_kit.tui.messages import CompareRequested, RunChosen, SweepRequested, UserRequested
from recsys_kit.tui.queries import TIME_LIMIT_S, Reader
from recsys_kit.tui.run_screen import RunScreen
from recsys_kit.tui.runs_screen import RunsScreen
from recsys_kit.tui.sql_screen import SqlScreen
from recsys_kit.tui.sweep_screen import SweepScreen
from recsys_kit.tui.user_screen import UserScreen


class RecsysApp(App[None]):
    """Browse a results file: runs, a run, a user's recommendations, compare, a sweep, SQL.

    ``refresh_s`` is how often open screens look for new results; ``clock`` gives the current
    UTC time (for the running time of live runs; tests pass a fixed one); ``wait_s`` is how
    long a read waits for a writer's lock; ``sql_time_limit_s`` stops long console queries.
    """

    CSS_PATH = "app.tcss"
    TITLE = "recsys-kit"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+s", "sql", "SQL"),
        # Where nothing takes typing; on the runs list, letters go to the filter instead.
        Binding("q", "quit", "Quit", show=False),
        Binding("s", "sql", "SQL", show=False),
    ]

    def __init__(self, results: Path, *, refresh_s: float = 2.0,
                 clock: Callable[[], datetime] = now, wait_s: float = 1.0,
                 sql_time_limit_s: float = TIME_LIMIT_S) -> None:
        super().__init__()
        self.results = Path(results)
        self.reader = Reader(self.results, wait_s=wait_s)
        self.refresh_s = refresh_s
        self.clock = clock
        self.sql_time_limit_s = sql_time_limit_s

    def on_mount(self) -> None:
        self.sub_title = self.results.name
        self.push_screen(RunsScreen())

    def action_help(self) -> None:
        """Show the help screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_sql(self) -> None:
        """Open the SQL console (or focus it when it is open)."""
        if isinstance(self.screen, SqlScreen):
            self.screen.query_one("#sql").focus()
        else:
            self.push_screen(SqlScreen())

    @on(RunChosen)
    def _run(self, message: RunChosen) -> None:
        self.push_screen(RunScreen(message.run_id))

    @on(UserRequested)
    def _user(self, message: UserRequested) -> None:
        self.push_screen(UserScreen(message.run_id, message.user_id))

    @on(CompareRequested)
    def _compare(self, message: CompareRequested) -> None:
        self.push_screen(CompareScreen(message.a, message.b))

    @on(SweepRequested)
    def _sweep(self, message: SweepRequested) -> None:
        self.push_screen(SweepScreen(message.sweep_id))
