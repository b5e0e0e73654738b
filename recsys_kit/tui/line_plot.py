"""A widget showing one per-epoch curve as a braille line plot, redrawn to fit its size."""

from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from recsys_kit.tui import plot
from recsys_kit.tui.formatting import non_finite
from recsys_kit.tui.queries import Curve


def plot_text(title: Text, drawn: plot.Plot, colour: str, xname: str = "") -> Text:
    """A rendered plot under its title: dim axes and labels (then ``xname``), the dots in
    ``colour``."""
    out = Text("\n").join([title] + [
        Text.assemble((label, "dim"), (dots, colour)) for label, dots in drawn.rows
    ] + [Text(drawn.axis, style="dim"), Text(f"{drawn.xlabels}  {xname}".rstrip(), style="dim")])
    out.no_wrap = True
    return out


class LinePlot(Widget):
    """A titled braille plot of a :class:`Curve`; empty curves say so instead."""

    DEFAULT_CSS = """
    LinePlot { height: 1fr; min-height: 5; }
    """

    curve: reactive[Curve | None] = reactive(None)

    mark: reactive[int | None] = reactive(None)

    def __init__(self, curve: Curve | None = None, *, colour: str = "cyan",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.colour = colour
        self.empty = "(no values yet)"
        self.set_reactive(LinePlot.curve, curve)

    def render(self) -> Text:
        """Title line, then the plot sized to the widget."""
        curve = self.curve
        title = Text(curve.label if curve else "", style="bold")
        if curve is None or not curve.values:
            return title + Text("\n" + self.empty, style="dim")
        if bad := non_finite(curve.epochs, curve.values):
            title.append(f"  {bad} (not drawn)", style="bold yellow")
        last = curve.values[-1]
        title.append(f"  epoch {curve.epochs[-1]}: {last:.4f}", style="dim")
        if self.mark is not None:
            title.append(f"  ▲ best epoch {self.mark}", style="dim")
        title.no_wrap = True
        width, height = self.content_size.width, self.content_size.height - 1
        if width < 10 or height < 3:
            return title
        if not any(math.isfinite(v) for v in curve.values):
            return title + Text("\n(no finite values to draw)", style="dim")
        drawn = plot.render([float(e) for e in curve.epochs], curve.values, width, height,
                            mark=self.mark)
        return plot_text(title, drawn, self.colour, "epoch")
