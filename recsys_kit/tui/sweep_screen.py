"""One sweep: what it searched, its trials in a sortable table, and a metric against a
parameter (the round, for a rolling evaluation); refreshed while the sweep runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from recsys_kit.tui.formatting import STATUS_STYLE, fmt_time, fmt_value
from recsys_kit.tui.messages import RunChosen
from recsys_kit.tui.queries import ReadError, SweepDetail
from recsys_kit.tui.sweep_plot import SweepPlotView
from recsys_kit.tui.sweep_view import (
    ROLLING,
    TrialColumn,
    metric_choices,
    plot_params,
    sort_trials,
    sweep_plot,
    trial_columns,
)

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp


def summary(d: SweepDetail) -> Text:
    """Three lines: name, method, status, trials done and the metric; the sweep id and start;
    the best trial with its values and run."""
    unit = "rounds" if d.method == ROLLING else "trials"
    text = Text.assemble(
        (d.name, "bold"), f"  {d.method}  ", (d.status, STATUS_STYLE.get(d.status, "")),
        f"  {d.done}/{d.n_trials} {unit}  ", (f"valid {d.metric}", "bold"),
        (f" ({d.direction})\n", "dim"), d.sweep_id, (f" · started {fmt_time(d.started_at)}\n",
                                                    "dim"))
    best = d.best_trial
    if best is None:
        text.append("no best trial yet", style="dim")
        return text
    text.append(f"best #{best.number}", style="bold")
    text.append(f" · valid {fmt_value(best.valid.get(d.metric))} · test "
                f"{fmt_value(best.test.get(d.metric))} · ")
    text.append(f"run {best.run_id}", style="dim")
    return text


class SweepScreen(Screen[None]):
    """A sweep's trials; Enter opens a trial's run, ``x`` / ``m`` pick what the plot shows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "param", "Parameter"),
        Binding("m", "metric", "Metric"),
        Binding("ctrl+o", "sort", "Sort"),
        Binding("ctrl+r", "reverse", "Reverse", show=False),
        Binding("r,f5", "reload", "Refresh", show=False),
    ]

    def __init__(self, sweep_id: str) -> None:
        super().__init__()
        self.sweep_id = sweep_id
        self.detail: SweepDetail | None = None
        self.param = 0
        self.metric = 0
        self.sort_key: str | None = None
        self.sort_reverse = False
        self._columns: list[TrialColumn] = []
        self._signature: tuple[int, ...] | None = None

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sweep-summary")
        yield DataTable(id="trials", cursor_type="row", header_height=2, zebra_stripes=True)
        yield SweepPlotView(id="sweep-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sweep"
        self.reload(force=True)
        self.set_interval(self.tui.refresh_s, self.reload)
        self.query_one("#trials", DataTable).focus()

    # -- data ---------------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Read the sweep again now."""
        self.reload(force=True)

    def reload(self, force: bool = False) -> None:
        """Re-read the sweep while it is running (or when ``force``); the timer's reads never
        wait for a writer's lock, a busy file is tried again at the next tick."""
        if not force and (self.detail is None or self.detail.status != "running"):
            return
        signature = self.tui.reader.signature()
        if not force and signature == self._signature:
            return
        try:
            detail = self.tui.reader.sweep(self.sweep_id, wait_s=None if force else 0)
        except ReadError as exc:
            if force:
                self.query_one("#sweep-summary", Static).update(Text(str(exc), style="red"))
            return
        self._signature = signature
        if detail is None:
            self.query_one("#sweep-summary", Static).update(
                Text(f"No sweep {self.sweep_id} in this file."))
            return
        self.detail = detail
        self.sub_title = f"sweep {detail.name}"
        self.query_one("#sweep-summary", Static).update(summary(detail))
        self._table()
        self._plot()

    def _table(self) -> None:
        d = self.detail
        assert d is not None
        table = self.query_one("#trials", DataTable)
        current = self.current_run()
        self._columns = trial_columns(d)
        column = next((c for c in self._columns if c.key == self.sort_key), None)
        table.clear(columns=True)
        for c in self._columns:
            arrow = (" ▼" if self.sort_reverse else " ▲") if c.key == self.sort_key else ""
            top, _, bottom = c.label.partition("\n")
            table.add_column(Text(f"{top}{arrow}\n{bottom}", justify="right" if c.numeric
                                  else "left"), key=c.key)
        rows = sort_trials(d.trials, column, self.sort_reverse)
        for t in rows:
            best = t.run_id == d.best_run_id
            table.add_row(*(Text(c.text(t), justify="right" if c.numeric else "left",
                                 style=STATUS_STYLE.get(t.status, "") if c.key == "status"
                                 else "bold" if best else "") for c in self._columns),
                          key=t.run_id)
        keys = [t.run_id for t in rows]
        if current in keys:
            table.move_cursor(row=keys.index(current), animate=False)

    def _plot(self) -> None:
        d = self.detail
        assert d is not None
        params = plot_params(d) if d.method != ROLLING else []
        choices = metric_choices(d)
        param = params[self.param % len(params)] if params else None
        self.query_one("#sweep-plot", SweepPlotView).data = sweep_plot(
            d, param, choices[self.metric % len(choices)])

    def current_run(self) -> str | None:
        """The run of the trial under the cursor."""
        table = self.query_one("#trials", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # -- actions ------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#trials")
    def action_open(self) -> None:
        """Open the run of the trial under the cursor."""
        if (run := self.current_run()) is not None:
            self.post_message(RunChosen(run))

    def action_param(self) -> None:
        """Plot against the next parameter."""
        self.param += 1
        if self.detail is not None:
            self._plot()

    def action_metric(self) -> None:
        """Plot the next metric."""
        self.metric += 1
        if self.detail is not None:
            self._plot()

    def _sort(self, key: str, reverse: bool) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        if self.detail is not None:
            self._table()

    def action_sort(self) -> None:
        """Sort by the next column."""
        if not self._columns:
            return
        keys = [c.key for c in self._columns]
        nxt = self._columns[(keys.index(self.sort_key) + 1) % len(keys)] \
            if self.sort_key in keys else self._columns[0]
        self._sort(nxt.key, nxt.descending)

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        if self.sort_key is not None:
            self._sort(self.sort_key, not self.sort_reverse)

    @on(DataTable.HeaderSelected, "#trials")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        column = next(c for c in self._columns if c.key == key)
        self._sort(key, not self.sort_reverse if key == self.sort_key else column.descending)
