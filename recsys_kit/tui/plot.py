"""A small braille line plot for the terminal (headless: returns strings, no Textual).

Each character cell holds a 2×4 grid of braille dots, so a plot ``w`` cells wide and ``h``
rows tall has ``2w × 4h`` points of resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

BRAILLE = 0x2800
#: Dot bit for (column, row) inside one braille cell.
DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass(frozen=True)
class Plot:
    """A rendered plot: ``rows`` of (y label, plot text), the x axis and the x labels line."""

    rows: list[tuple[str, str]]
    axis: str
    xlabels: str


def _label(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:.2e}"


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Bresenham: every dot on the segment from (x0, y0) to (x1, y1)."""
    points = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        points.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return points
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def render(xs: list[float], ys: list[float], width: int, height: int,
           mark: float | None = None, *, points: bool = False,
           xticks: Sequence[tuple[float, str]] | None = None) -> Plot:
    """Plot ``ys`` against ``xs`` into ``width`` × ``height`` cells (axes and labels included).

    ``mark`` puts a ``▲`` on the x axis at that x (the best epoch, say). Points that are not
    finite (nan, inf) are left out; callers say so. ``points`` draws each point as a full cell
    instead of joining them with lines (a scatter). ``xticks`` labels those x positions (as
    many as fit) instead of the first and last x.
    """
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    xs, ys = [x for x, _ in kept], [y for _, y in kept]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 0.5), hi + (abs(hi) * 0.05 or 0.5)
    labels = [_label(hi), _label((hi + lo) / 2), _label(lo)]
    pad = max(len(s) for s in labels)
    cols, rows = max(width - pad - 1, 2), max(height - 2, 2)
    grid = [[0] * cols for _ in range(rows)]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = (x_hi - x_lo) or 1.0

    def dot(x: float, y: float) -> tuple[int, int]:
        px = 0 if x_hi == x_lo else round((x - x_lo) / span * (2 * cols - 1))
        py = round((hi - y) / (hi - lo) * (4 * rows - 1))
        return px, py

    dots = [dot(x, y) for x, y in zip(xs, ys, strict=True)]
    if points:
        for px, py in dots:
            grid[py // 4][px // 2] = 0xFF
    segments = [] if points else pairwise(dots) if len(dots) > 1 else [(p, p) for p in dots]
    for (x0, y0), (x1, y1) in segments:
        for px, py in _line(x0, y0, x1, y1):
            grid[py // 4][px // 2] |= DOTS[px % 2][py % 4]
    out = []
    for r, cells in enumerate(grid):
        label = labels[0] if r == 0 else labels[2] if r == rows - 1 else (
            labels[1] if r == rows // 2 and rows >= 5 else "")
        out.append((label.rjust(pad) + ("┤" if label else "│"),
                    "".join(chr(BRAILLE + c) if c else " " for c in cells)))
    ticks = ["─"] * cols
    if mark is not None and xs and x_lo <= mark <= x_hi:
        ticks[dot(mark, lo)[0] // 2] = "▲"
    axis = " " * pad + "└" + "".join(ticks)
    if xticks is not None:
        placed = [(dot(x, lo)[0] // 2, label) for x, label in xticks]
        return Plot(out, axis, " " * (pad + 1) + _place(placed, cols))
    first, last = (_tick(x_lo), _tick(x_hi)) if xs else ("", "")
    gap = max(cols - len(first) - len(last), 1)
    xlabels = " " * (pad + 1) + first + (" " * gap + last if x_hi != x_lo else "")
    return Plot(out, axis, xlabels)


def _place(labels: list[tuple[int, str]], cols: int) -> str:
    """Labels centred under their columns, left to right; one that would touch the label
    before it is left out."""
    line = [" "] * cols
    end = -2
    for col, label in sorted(labels):
        start = min(max(col - len(label) // 2, 0), max(cols - len(label), 0))
        if start <= end + 1:
            continue
        line[start:start + len(label)] = label[:cols - start]
        end = start + len(label) - 1
    return "".join(line).rstrip()


def _tick(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
