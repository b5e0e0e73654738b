"""One run: summary, metrics table, curves, recipe, plugins, artifacts and error."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from recsys_kit.tui.formatting import (
    STATUS_STYLE,
    fmt_bytes,
    fmt_duration,
    fmt_time,
    fmt_timing,
    fmt_value,
    metric_key,
)
from recsys_kit.tui.line_plot import LinePlot
from recsys_kit.tui.messages import UserRequested
from recsys_kit.tui.queries import ReadError, RunDetail
from recsys_kit.tui.run_details import artifact_folder, beside_results, error_first

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp

TABS = ("metrics", "curves", "recipe", "plugins", "artifacts", "error")
SPLIT_ORDER = {"test": 0, "valid": 1, "train": 2}


def _or_dash(value: object) -> str:
    return "—" if value is None else str(value)


def metrics_rows(detail: RunDetail) -> tuple[list[int | None], list[tuple[str, str, dict]]]:
    """The K columns and one row per (split, metric) with values keyed by K."""
    ks = sorted({k for _, _, k, _ in detail.metrics if k is not None})
    if any(k is None for _, _, k, _ in detail.metrics):
        ks.append(None)
    grouped: dict[tuple[str, str], dict[int | None, float]] = {}
    for split, metric, k, value in detail.metrics:
        grouped.setdefault((split, metric), {})[k] = value
    rows = sorted(grouped.items(), key=lambda kv: (SPLIT_ORDER.get(kv[0][0], 9), kv[0][1]))
    return ks, [(split, metric, values) for (split, metric), values in rows]


class RunScreen(Screen[None]):
    """Details of one run; refreshes itself while the run is still training."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("u", "user", "Users"),
        *(Binding(str(i + 1), f"tab('{tab}')", tab.title(), show=False)
          for i, tab in enumerate(TABS)),
        Binding("r,f5", "reload", "Refresh", show=False),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self._signature: tuple[int, ...] | None = None

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-summary")
        with TabbedContent(id="run-tabs"):
            with TabPane("1 Metrics", id="metrics"):
                yield Static(id="metrics-note")
                yield Static(id="timing")
                yield DataTable(id="metrics-table", cursor_type="row", zebra_stripes=True)
            with TabPane("2 Curves", id="curves"):
                yield LinePlot(id="loss-plot", colour="magenta")
                yield LinePlot(id="monitor-plot", colour="cyan")
            with TabPane("3 Recipe", id="recipe"), VerticalScroll():
                yield Static(id="recipe-text")
            with TabPane("4 Plugins", id="plugins"):
                yield DataTable(id="plugins-table", cursor_type="row", zebra_stripes=True)
                yield Static(id="versions")
            with TabPane("5 Artifacts", id="artifacts"):
                yield Static(id="artifacts-folder")
                yield DataTable(id="artifacts-table", cursor_type="row", zebra_stripes=True)
            with TabPane("6 Error", id="error"), VerticalScroll():
                yield Static(id="error-text")
        yield Footer()

    def on_mount(self) -> None:
        self.reload(force=True)
        d = self.detail
        # A failed run opens on its error; an interrupted one too, unless it has metrics.
        if d is not None and d.error and (d.status != "interrupted" or not d.metrics):
            self.call_after_refresh(self.action_tab, "error")
        self.set_interval(self.tui.refresh_s, self.reload)
        self.query_one("#metrics-table", DataTable).focus()

    def action_tab(self, tab: str) -> None:
        """Show one tab."""
        self.query_one("#run-tabs", TabbedContent).active = tab

    def action_reload(self) -> None:
        """Read the run again now."""
        self.reload(force=True)

    def action_user(self) -> None:
        """Browse this run's users."""
        self.post_message(UserRequested(self.run_id))

    def reload(self, force: bool = False) -> None:
        """Re-read the run while it is running (or when ``force``).

        The timer's reads never wait for a writer's lock (the UI would freeze meanwhile): a
        busy file is tried again at the next tick.
        """
        if not force and (self.detail is None or self.detail.status != "running"):
            return
        signature = self.tui.reader.signature()
        if not force and signature == self._signature:
            return
        try:
            detail = self.tui.reader.run(self.run_id, wait_s=None if force else 0)
        except ReadError as exc:
            if force:
                self.query_one("#run-summary", Static).update(Text(str(exc), style="red"))
            return
        self._signature = signature
        if detail is None:
            self.query_one("#run-summary", Static).update(
                Text(f"No run {self.run_id} in this file."))
            return
        self.detail = detail
        self.show(detail)

    def show(self, d: RunDetail) -> None:
        """Fill every tab from ``d``."""
        self.sub_title = f"run {d.name}"
        duration = d.duration_s
        if d.status == "running" and d.started_at is not None:
            duration = max((self.tui.clock() - d.started_at).total_seconds(), 0.0)
        self.query_one("#run-summary", Static).update(Text.assemble(
            (d.name, "bold"), "  ", (d.status, STATUS_STYLE.get(d.status, "")),
            f"  {fmt_duration(duration)}  {d.device or '—'}  seed {_or_dash(d.seed)}",
            (f" · best epoch {_or_dash(d.best_epoch)} · monitor {_or_dash(d.monitor)}\n", "dim"),
            # The run id first on its line: at 80 columns only the start time may be cut.
            (d.run_id, ""), (f" · started {fmt_time(d.started_at)} UTC", "dim"),
        ))
        self._metrics(d)
        for plot_id, curve in (("#loss-plot", d.loss), ("#monitor-plot", d.monitor_curve)):
            line = self.query_one(plot_id, LinePlot)
            line.display = curve is not None  # no monitor: no metric curve
            line.mark = d.best_epoch
            line.empty = "(no values yet)" if d.status == "running" else "(none recorded)"
            line.curve = curve
        recipe = yaml.safe_dump(d.recipe, sort_keys=False, allow_unicode=True, width=72)
        self.query_one("#recipe-text", Static).update(
            Syntax(recipe, "yaml", theme="ansi_dark", background_color="default"))
        plugins = self.query_one("#plugins-table", DataTable)
        plugins.clear(columns=True)
        plugins.add_columns("recipe path", "family", "plugin", "distribution", "version")
        plugins.add_rows([tuple(Text(v or "—") for v in row) for row in d.plugins])
        self.query_one("#versions", Static).update(Text(
            "versions: " + "  ".join(f"{k} {v}" for k, v in d.versions.items()), style="dim"))
        folder, files = artifact_folder([beside_results(p, self.tui.reader.path)
                                         for _, _, p, _ in d.artifacts])
        self.query_one("#artifacts-folder", Static).update(
            Text(f"in {folder}/", style="dim") if folder else "")
        artifacts = self.query_one("#artifacts-table", DataTable)
        artifacts.clear(columns=True)
        artifacts.add_columns("name", "kind", "size", "file")
        artifacts.add_rows([(Text(n), Text(k), Text(fmt_bytes(b)), Text(f))
                            for (n, k, _, b), f in zip(d.artifacts, files, strict=True)])
        self.query_one("#error-text", Static).update(
            error_first(d.error) if d.error else Text(f"No error: the run is {d.status}."))

    def _metrics(self, d: RunDetail) -> None:
        ks, rows = metrics_rows(d)
        has_test = any(split == "test" for split, _, _ in rows)
        note = "test: best weights" if has_test else f"no test metrics (the run is {d.status})"
        if d.metrics_epoch is not None:
            which = "best" if d.best_epoch == d.metrics_epoch else "latest"
            note += f"; valid and train: epoch {d.metrics_epoch} ({which})"
        self.query_one("#metrics-note", Static).update(Text(note, style="dim"))
        timing = fmt_timing(d.timing, d.timing_epochs)
        self.query_one("#timing", Static).update(Text(timing, style="dim"))
        self.query_one("#timing", Static).display = bool(timing)
        table = self.query_one("#metrics-table", DataTable)
        table.clear(columns=True)
        table.add_column("split", key="split")
        table.add_column("metric", key="metric")
        for k in ks:
            table.add_column(Text("value" if k is None else f"@{k}", justify="right"),
                             key=metric_key("k", k))
        for split, metric, values in rows:
            table.add_row(Text(split), Text(metric),
                          *(Text(fmt_value(values.get(k)), justify="right") for k in ks))
