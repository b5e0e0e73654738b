"""A read-only SQL console over the results file, with query history."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import duckdb
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from recsys_kit.tui.formatting import fmt_cell
from recsys_kit.tui.history_input import HistoryInput
from recsys_kit.tui.queries import ReadError, SqlResult, WriteRefused
from recsys_kit.tui.queries.console import MAX_ROWS

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp

HINT = ("Tables: runs, run_plugins, metrics, recommendations, explanations, artifacts, "
        "datasets, items, interactions. Enter runs; ↑/↓ history; read-only.")


class SqlScreen(Screen[None]):
    """Type a query, Enter, see a table; writes are refused, errors shown inline."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+l", "clear", "Clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: SqlResult | None = None

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

    def _message(self, text: str, style: str = "") -> None:
        self.query_one("#sql-message", Static).update(Text(text, style=style))

    @on(Input.Submitted, "#sql")
    def run_query(self, event: Input.Submitted) -> None:
        """Run the submitted query and show its rows or its error."""
        text = event.value.strip()
        box = self.query_one("#sql", HistoryInput)
        box.remember(text)
        if not text:
            return
        table = self.query_one("#sql-result", DataTable)
        try:
            result = self.tui.reader.sql(text)
        except WriteRefused as exc:
            self._message(str(exc), "bold red")
            return
        except (duckdb.Error, ReadError) as exc:
            self._message(str(exc).strip(), "red")
            return
        except Exception as exc:  # a console must survive any query; show what went wrong
            self._message(f"{type(exc).__name__}: {exc}", "red")
            return
        self.result = result
        box.value = ""
        table.clear(columns=True)
        table.add_columns(*result.columns)
        table.add_rows([tuple(fmt_cell(v) for v in row) for row in result.rows])
        shown = f"first {MAX_ROWS} rows (more not shown)" if result.truncated else \
            f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}"
        self._message(shown if result.columns else "done (no rows)", "green")

    def action_clear(self) -> None:
        """Empty the query box and the table."""
        self.query_one("#sql", HistoryInput).value = ""
        self.query_one("#sql-result", DataTable).clear(columns=True)
        self._message(HINT, "dim")
