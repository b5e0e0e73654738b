"""Two runs compared: test metrics side by side with the paired t-test's p-value (is the
difference real?), and the users they disagree on most."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from recsys_kit.evaluation.paired import PairedResult
from recsys_kit.tui.formatting import fmt_delta, fmt_value
from recsys_kit.tui.messages import UserRequested
from recsys_kit.tui.queries import Comparison, ReadError

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp


def _delta_style(value: float | None) -> str:
    if value is None or value == 0 or math.isnan(value):
        return "dim"
    return "green" if value > 0 else "red"


def p_value_text(stats: PairedResult | None) -> Text:
    """The p-value, bold below 0.05 (a difference unlikely to be chance), "—" when unknown."""
    if stats is None or math.isnan(stats.p_value):
        return Text("—", style="dim", justify="right")
    shown = "<.001" if stats.p_value < 0.001 else f"{stats.p_value:.3f}".lstrip("0")
    return Text(shown, style="bold" if stats.p_value < 0.05 else "dim", justify="right")


class CompareScreen(Screen[None]):
    """Runs A and B; on a user row, ``a`` / ``b`` open that user under run A / B."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "user('a')", "User in A"),
        Binding("b", "user('b')", "User in B"),
        Binding("x", "swap", "Swap A/B"),
    ]

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.comparison: Comparison | None = None

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="compare-title")
        with Horizontal(id="compare-panes"):
            with Vertical(id="compare-metrics-pane"):
                yield Label("test metrics (Δ = B − A)", id="compare-metrics-label",
                            classes="pane-title")
                yield DataTable(id="compare-metrics", cursor_type="row", zebra_stripes=True)
            with Vertical(id="disagree-pane"):
                yield Label("users (test rank @A/@B)", classes="pane-title")
                yield DataTable(id="disagree", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare"
        self.load()
        self.query_one("#disagree", DataTable).focus()

    def load(self) -> None:
        """Read and show the comparison of ``a`` and ``b``."""
        try:
            c = self.tui.reader.compare(self.a, self.b)
        except ReadError as exc:
            self.query_one("#compare-title", Static).update(Text(str(exc), style="red"))
            return
        self.comparison = c
        title = Text.assemble(("A ", "bold cyan"), c.name_a, (f" {c.a}\n", "dim"),
                              ("B ", "bold magenta"), c.name_b, (f" {c.b}", "dim"))
        if c.paired_note:
            title.append(f"\nno p-values: {c.paired_note}", style="yellow")
        self.query_one("#compare-title", Static).update(title)
        users_paired = max((m.paired.n for m in c.metrics if m.paired), default=0)
        self.query_one("#compare-metrics-label", Label).update(
            f"Δ = B − A · p: paired t-test, {users_paired:,} users"
            if users_paired else "test metrics (Δ = B − A)")
        metrics = self.query_one("#compare-metrics", DataTable)
        metrics.clear(columns=True)
        metrics.add_column("metric", key="metric")
        for key, label in (("a", "A"), ("b", "B"), ("delta", "Δ"), ("rel", "Δ%"), ("p", "p")):
            metrics.add_column(Text(label, justify="right"), key=key)
        for m in c.metrics:
            rel = "—" if m.relative is None else f"{100 * m.relative:+.1f}%"
            style = _delta_style(m.delta)
            metrics.add_row(Text(m.key), Text(fmt_value(m.a), justify="right"),
                            Text(fmt_value(m.b), justify="right"),
                            Text(fmt_delta(m.delta), style=style, justify="right"),
                            Text(rel, style=style, justify="right"), p_value_text(m.paired))
        users = self.query_one("#disagree", DataTable)
        users.clear(columns=True)
        users.add_column("user", key="user")
        users.add_column(Text("shared", justify="right"), key="shared")
        users.add_column(Text("@A", justify="right"), key="rank_a")
        users.add_column(Text("@B", justify="right"), key="rank_b")
        for d in c.users:
            users.add_row(Text(d.user_id), Text(f"{d.shared}/{d.k}", justify="right"),
                          Text("—" if d.rank_a is None else str(d.rank_a), justify="right"),
                          Text("—" if d.rank_b is None else str(d.rank_b), justify="right"),
                          key=d.user_id)

    def current_user(self) -> str | None:
        """The user under the cursor in the disagreement list."""
        table = self.query_one("#disagree", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_user(self, which: str) -> None:
        """Open the highlighted user under run A or B."""
        user = self.current_user()
        if user is not None:
            self.post_message(UserRequested(self.a if which == "a" else self.b, user))

    @on(DataTable.RowSelected, "#disagree")
    def _selected(self) -> None:
        """Enter (or a second click) on a user: that user under run A."""
        self.action_user("a")

    def action_swap(self) -> None:
        """Swap A and B."""
        self.a, self.b = self.b, self.a
        self.load()
