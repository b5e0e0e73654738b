"""A read-only SQL console over the results file, with query history.

Queries run in a worker thread, so the screen stays responsive: Esc stops a running query
(DuckDB's interrupt) and a query stops by itself after the app's ``sql_time_limit_s``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from recsys_kit.errors import StoreError
from recsys_kit.tui.formatting import fmt_cell
from recsys_kit.tui.history_input import HistoryInput
from recsys_kit.tui.queries import QueryStopped, SqlRefused, SqlResult, Stopper
from recsys_kit.tui.queries.console import MAX_ROWS

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp

HINT = ("Tables: runs, run_plugins, metrics, recommendations, explanations, artifacts, "
        "datasets, items, interactions. Enter runs; ↑/↓ history; read-only.")


class SqlScreen(Screen[None]):
    """Type a query, Enter, see a table; writes are refused, errors shown inline."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back / stop"),
        Binding("ctrl+l", "clear", "Clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: SqlResult | None = None
        self._query: tuple[Worker[SqlResult], Stopper, str] | None = None

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield HistoryInput(placeholder="SELECT name, status FROM runs", id="sql")
        yield Static(Text(HINT, style="dim"), id="sql-message")
        yield DataTable(id="sql-result", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "SQL (read-only)"
        self.query_one("#sql", HistoryInput).focus()

    def on_unmount(self) -> None:
        self.stop("Cancelled.")

    def _message(self, text: str, style: str = "") -> None:
        self.query_one("#sql-message", Static).update(Text(text, style=style))

    @property
    def running(self) -> bool:
        """Whether a query is running."""
        return self._query is not None

    def stop(self, reason: str) -> None:
        """Stop the running query, if any (its worker then reports ``reason``)."""
        if self._query is not None:
            self._query[1].stop(reason)

    @on(Input.Submitted, "#sql")
    def run_query(self, event: Input.Submitted) -> None:
        """Start the submitted query in a worker thread (stopping one still running)."""
        text = event.value.strip()
        self.query_one("#sql", HistoryInput).remember(text)
        if not text:
            return
        self.stop("Replaced by the next query.")
        stopper = Stopper()
        limit = self.tui.sql_time_limit_s
        worker = self.run_worker(
            partial(self.tui.reader.sql, text, timeout_s=limit, stopper=stopper),
            name="sql", group="sql", thread=True, exit_on_error=False)
        self._query = (worker, stopper, text)
        self._message(f"running… Esc stops it (it stops by itself after {limit:g} s)", "yellow")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the finished query's rows, or why it has none."""
        if self._query is None or event.worker is not self._query[0]:
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        text = self._query[2]
        self._query = None
        if event.state is WorkerState.SUCCESS:
            self._show(text, cast("SqlResult", event.worker.result))
            return
        exc = event.worker.error
        if isinstance(exc, SqlRefused):
            self._message(str(exc), "bold red")
        elif isinstance(exc, QueryStopped):
            self._message(str(exc), "yellow")
        elif isinstance(exc, StoreError):  # SqlFailed, or the file cannot be read
            self._message(str(exc).strip(), "red")
        else:  # a console must survive any query; show what went wrong
            self._message(f"{type(exc).__name__}: {exc}", "red")

    def _show(self, text: str, result: SqlResult) -> None:
        self.result = result
        box = self.query_one("#sql", HistoryInput)
        if box.value.strip() == text:
            box.value = ""
        table = self.query_one("#sql-result", DataTable)
        table.clear(columns=True)
        for name in result.columns:  # Text: names and values are data, never markup
            table.add_column(Text(name))
        table.add_rows([tuple(Text(fmt_cell(v)) for v in row) for row in result.rows])
        shown = f"first {MAX_ROWS} rows (more not shown)" if result.truncated else \
            f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
        self._message(shown if result.columns else "done (no rows)", "green")

    def action_back(self) -> None:
        """Stop the running query, else go back."""
        if self.running:
            self.stop("Cancelled (Esc). The query box still holds it.")
        else:
            self.app.pop_screen()

    def action_clear(self) -> None:
        """Empty the query box and the table."""
        self.query_one("#sql", HistoryInput).value = ""
        self.query_one("#sql-result", DataTable).clear(columns=True)
        self._message(HINT, "dim")
