"""A widget showing a sweep's metric against a parameter, redrawn to fit its size."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from recsys_kit.tui import plot
from recsys_kit.tui.line_plot import plot_text
from recsys_kit.tui.sweep_view import SweepPlot


class SweepPlotView(Widget):
    """A titled braille plot of a :class:`SweepPlot`: points for trials, a line for rounds;
    ``▲`` on the x axis marks the best trial."""

    DEFAULT_CSS = """
    SweepPlotView { height: 1fr; min-height: 5; padding: 0 1; }
    """

    data: reactive[SweepPlot | None] = reactive(None)

    def render(self) -> Text:
        """Title line (with what is not drawn), then the plot sized to the widget."""
        data = self.data
        if data is None:
            return Text("")
        title = Text(data.title, style="bold")
        if data.mark is not None:
            title.append("  ▲ best", style="dim")
        if data.note:
            title.append(f"  {data.note}", style="yellow")
        width, height = self.content_size.width, self.content_size.height - 1
        title.truncate(width, overflow="ellipsis")
        if not data.xs or width < 10 or height < 3:
            return title
        drawn = plot.render(data.xs, data.ys, width, height, mark=data.mark,
                            points=not data.joined, xticks=data.ticks)
        return plot_text(title, drawn, "cyan")
