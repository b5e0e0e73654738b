"""The runs list: sortable, filterable, refreshed while runs write to the results file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from recsys_kit.tui.formatting import STATUS_STYLE, fmt_duration, fmt_start, fmt_value
from recsys_kit.tui.messages import (
    CompareRequested,
    RunChosen,
    SweepRequested,
    UserRequested,
)
from recsys_kit.tui.queries import Busy, NoResults, ReadError, RunSummary, Unreadable
from recsys_kit.tui.run_columns import (
    Column,
    common_monitor,
    layout,
    monitor_text,
    select,
    shorten,
)

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp


class RunsScreen(Screen[None]):
    """Every run in the results file; Enter opens one, Space marks two to compare."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Every printable key but these types into the filter, so actions use control keys.
        Binding("space", "mark", "Mark"),
        Binding("ctrl+p", "compare", "Compare"),
        Binding("ctrl+o", "sort", "Sort"),
        Binding("ctrl+r", "reverse", "Reverse", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("ctrl+n", "user", "Users", show=False),
        Binding("ctrl+g", "sweep", "Sweep"),
        Binding("f5", "reload", "Refresh", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    #: Printable keys that act instead of typing into the filter (``?`` is the app's help).
    NOT_TYPED = frozenset({"space", "slash", "question_mark"})

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunSummary] = []
        self.marked: list[str] = []
        self.sort_key, self.sort_reverse = "start", True
        self._columns: list[Column] = []
        self._shown: list[tuple[str, tuple[Any, ...]]] = []
        self._signature: tuple[int, ...] | None = None
        self.notice = ""

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: type to narrow the runs (name, status, device, id)",
                    id="filter", select_on_focus=False)
        yield DataTable(id="runs", cursor_type="row", header_height=2, zebra_stripes=True)
        yield Static(id="runs-status")
        yield Footer()

    def on_mount(self) -> None:
        self.reload(force=True)
        self.set_interval(self.tui.refresh_s, self.reload)
        self.query_one("#runs", DataTable).focus()

    # -- data ---------------------------------------------------------------------------------

    def reload(self, force: bool = False) -> None:
        """Re-read the runs when the file changed (or ``force``); redraw either way."""
        signature = self.tui.reader.signature()
        if force or signature != self._signature:
            try:
                runs = self.tui.reader.runs(wait_s=self.tui.reader.wait_s if force else 0)
            except NoResults as exc:
                self.notice, self._signature = str(exc), signature
                runs = []
            except Busy:
                self.notice = "results file busy (a run is writing); retrying…"
                runs = self.runs
            except Unreadable as exc:  # retrying helps only once the file changes
                self.notice, self._signature = f"unreadable: {exc}", signature
                runs = []
            except ReadError as exc:
                self.notice, runs = str(exc), self.runs
            else:
                self.notice, self._signature = "", signature
            self.runs = runs
        self.redraw()

    def action_reload(self) -> None:
        """Read the file now."""
        self.reload(force=True)

    def on_resize(self) -> None:
        """Give the name column the width that is left."""
        self.redraw()

    def visible(self) -> list[RunSummary]:
        """The runs passing the filter, in the chosen order."""
        columns = {c.key: c for c in self._layout()}
        return select(self.runs, self.query_one("#filter", Input).value,
                      columns.get(self.sort_key), self.sort_reverse)

    def _layout(self) -> list[Column]:
        return layout(self.runs, self.app.size.width, self.tui.clock())

    def _cells(self, run: RunSummary, columns: list[Column], common: str | None
               ) -> tuple[Any, ...]:
        mark = "✓ " if run.run_id in self.marked else ""
        trial = "" if run.sweep_id is None else f" #{run.trial}"
        metrics = [c.key.removeprefix("test:") for c in columns if c.key.startswith("test:")]
        name = Text(mark + shorten(run.name, columns[0].width - len(mark) - len(trial)),
                    style="bold" if mark else "")
        name.append(trial, style="cyan")
        return (  # Text throughout: names and devices are data, never markup
            name,
            Text(run.status, style=STATUS_STYLE.get(run.status, "")),
            Text(fmt_start(run.started_at)), Text(fmt_duration(run.elapsed_s(self.tui.clock()))),
            Text("" if run.epoch is None else str(run.epoch)),
            Text(monitor_text(run, common), justify="right"),
            *(Text(fmt_value(run.test.get(m)), justify="right") for m in metrics),
            Text(run.device or "—"),
        )

    def redraw(self) -> None:
        """Show the current runs in the table, keeping the cursor on the same run."""
        table = self.query_one("#runs", DataTable)
        columns = self._layout()
        common = common_monitor(self.runs)
        rows = [(r.run_id, self._cells(r, columns, common)) for r in self.visible()]
        if [c[:3] for c in columns] != [c[:3] for c in self._columns] or \
                [k for k, _ in rows] != [k for k, _ in self._shown]:
            self._rebuild(table, columns, rows)
        else:
            for (key, cells), (_, old) in zip(rows, self._shown, strict=True):
                for column, cell, before in zip(columns, cells, old, strict=True):
                    if str(cell) != str(before) or cell != before:
                        table.update_cell(key, column.key, cell)
        self._shown = rows
        self._status(len(rows))

    def _rebuild(self, table: DataTable, columns: list[Column],
                 rows: list[tuple[str, tuple[Any, ...]]]) -> None:
        current = self.current_run()
        self._columns = columns
        table.clear(columns=True)
        for key, label, width, _, _ in columns:
            arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_key else ""
            top, _, bottom = label.partition("\n")
            table.add_column(Text(f"{top}{arrow}\n{bottom}"), width=width + len(arrow), key=key)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        keys = [k for k, _ in rows]
        if current in keys:
            table.move_cursor(row=keys.index(current), animate=False)

    def _status(self, shown: int) -> None:
        parts = [self.notice] if self.notice else []
        total = len(self.runs)
        parts.append(f"{shown} of {total} runs" if shown != total else f"{total} runs")
        if self.marked:
            names = {r.run_id: r.name for r in self.runs}
            parts.append("marked: " + ", ".join(names.get(m, m) for m in self.marked))
        self.query_one("#runs-status", Static).update(Text(" · ".join(parts)))

    def current_run(self) -> str | None:
        """The run under the cursor."""
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    # -- actions ------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#runs")
    def action_open(self) -> None:
        """Open the run under the cursor."""
        if (run := self.current_run()) is not None:
            self.post_message(RunChosen(run))

    def action_user(self) -> None:
        """Open the user screen for the run under the cursor."""
        if (run := self.current_run()) is not None:
            self.post_message(UserRequested(run))

    def action_sweep(self) -> None:
        """Open the sweep that the run under the cursor is a trial of."""
        run = next((r for r in self.runs if r.run_id == self.current_run()), None)
        if run is None:
            return
        if run.sweep_id is None:
            self.notify(f"{run.name} is not a trial of a sweep; Ctrl+G opens the sweep of a "
                        "run marked #N (its trial number).", severity="warning", markup=False)
            return
        self.post_message(SweepRequested(run.sweep_id))

    def action_mark(self) -> None:
        """Mark (or unmark) the run under the cursor for comparison; two at most."""
        run = self.current_run()
        if run is None:
            return
        if run in self.marked:
            self.marked.remove(run)
        else:
            self.marked = [*self.marked[-1:], run]
        self.redraw()

    def action_compare(self) -> None:
        """Compare the two marked runs (or the marked one with the one under the cursor)."""
        pair = list(self.marked)
        current = self.current_run()
        if len(pair) == 1 and current is not None and current not in pair:
            pair.append(current)
        if len(pair) != 2:
            self.notify("Mark two runs with Space (or one, then move to the other) and press "
                        "Ctrl+P.", severity="warning", markup=False)
            return
        self.post_message(CompareRequested(*pair))

    def _sort(self, key: str, reverse: bool) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self._columns = []
        self.redraw()

    def action_sort(self) -> None:
        """Sort by the next column."""
        keys = [c.key for c in self._columns]
        nxt = self._columns[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys \
            else self._columns[0]
        self._sort(nxt.key, nxt.descending)

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        self._sort(self.sort_key, not self.sort_reverse)

    @on(DataTable.HeaderSelected, "#runs")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        column = next(c for c in self._columns if c.key == key)
        self._sort(key, not self.sort_reverse if key == self.sort_key else column.descending)

    def action_filter(self) -> None:
        """Focus the filter."""
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        """Clear the filter and go back to the table."""
        self.query_one("#filter", Input).value = ""
        self.query_one("#runs", DataTable).focus()

    @on(Input.Changed, "#filter")
    def _filtered(self) -> None:
        self.redraw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#runs", DataTable).focus()

    def on_key(self, event: Key) -> None:
        """Every printable key but Space, / and ? types into the filter (so ``q`` or ``s``
        filter rather than quit or open SQL); arrows leave the filter."""
        filt = self.query_one("#filter", Input)
        if self.focused is filt:
            if event.key in ("down", "up", "pagedown", "pageup"):
                self.query_one("#runs", DataTable).focus()
                event.stop()  # the cursor stays on the first match
            elif event.key == "escape":
                self.action_clear_filter()
                event.stop()
        elif event.is_printable and event.character and event.key not in self.NOT_TYPED:
            filt.focus()
            filt.insert_text_at_cursor(event.character)
            event.stop()
            event.prevent_default()
