"""The help screen (``?``): every binding, screen by screen."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, list[tuple[str, str]]]

LEFT: list[Section] = [
    ("Everywhere", [("?", "this help"), ("^S", "SQL console"), ("^Q or ^C", "quit"),
                    ("q / s", "quit / SQL, but not in"), ("", "the runs list or a box"),
                    ("Esc", "back / close"), ("Tab", "next pane"),
                    ("mouse", "click rows, headers, tabs")]),
    ("Runs", [("type, /", "filter; Esc clears"), ("↑ ↓ Enter", "move, open the run"),
              ("Space", "mark (two) to compare"), ("^P", "compare the marked runs"),
              ("^O / ^R", "sort: next column / reverse"), ("^N", "users of the run"),
              ("^G", "its sweep (a run marked #N)"), ("F5", "re-read now")]),
]
RIGHT: list[Section] = [
    ("Run", [("1 … 6", "metrics, curves, recipe,"), ("", "plugins, artifacts, error"),
             ("u", "users of this run")]),
    ("User", [("/", "jump to a user id"), ("n / p", "next / previous user"),
              ("↑ ↓", "a recommendation's why")]),
    ("Compare", [("Enter / b", "the user in run A / B"), ("x", "swap A and B")]),
    ("SQL", [("Enter", "run (read-only)"), ("Esc", "stop a running query"),
             ("↑ ↓", "query history"), ("^L", "clear")]),
    ("Sweep", [("Enter", "open the trial's run"), ("x / m", "plot: next param / metric")]),
]


def help_table(sections: list[Section]) -> Table:
    """Sections of (key, what) as one Rich grid."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold cyan", justify="right", min_width=9)
    table.add_column()
    for title, rows in sections:
        table.add_row("", Text(title, style="bold underline"))
        for key, what in rows:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Key bindings of every screen; Esc, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("recsys-kit tui — keys", style="bold"), id="help-title")
            with Horizontal(id="help-body"):
                yield Static(help_table(LEFT), classes="help-column")
                yield Static(help_table(RIGHT), classes="help-column")
            yield Static(Text("The results file is opened read-only per query, then closed.",
                              style="dim"), id="help-note")
