"""The runs list's columns, filter and sort order (headless: no Textual)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from recsys_kit.tui.formatting import fmt_value
from recsys_kit.tui.queries import RunSummary, key_metrics


class Column(NamedTuple):
    """One column of the runs list: key, two-line label, width, sort key, default order."""

    key: str
    label: str
    width: int
    sort: Callable[[RunSummary], Any]
    descending: bool = False


#: Name column width: least, most, and least before other columns give way (scroll).
NAME_WIDTH = (14, 40, 20)

DEVICE = Column("device", "device\n", 6, lambda r: r.device or "")


def common_monitor(runs: list[RunSummary]) -> str | None:
    """The monitored metric most runs share (it names the monitor column)."""
    monitors = [r.monitor for r in runs if r.monitor]
    return max(sorted(set(monitors)), key=monitors.count) if monitors else None


def monitor_text(run: RunSummary, common: str | None) -> str:
    """The monitor cell: the value, named when the run monitors another metric than most."""
    if run.monitor is None:
        return "—"
    value = fmt_value(run.monitor_value)
    return value if run.monitor == common else f"{run.monitor} {value}"


def _number(value: float | None) -> float | None:
    """A sort key that puts missing and nan values last."""
    return None if value is None or math.isnan(value) else value


def base_columns(runs: list[RunSummary], now: datetime) -> list[Column]:
    """Status, start, time (so far, for a running run), epoch and the monitored metric."""
    common = common_monitor(runs)
    width = max([7, len(common or ""), *(len(monitor_text(r, common)) for r in runs)])
    return [
        Column("status", "status\n", max([6, *(len(r.status) for r in runs)]),
               lambda r: r.status),
        Column("start", "start\n(UTC)", 11, lambda r: r.started_at or datetime.min, True),
        Column("time", "time\n", 6, lambda r: r.elapsed_s(now), True),
        Column("epoch", "ep\n", 3, lambda r: r.epoch, True),
        Column("monitor", f"{common or 'monitor'}\n(valid)", width,
               lambda r: _number(r.monitor_value), True),
    ]


def layout(runs: list[RunSummary], screen_width: int, now: datetime) -> list[Column]:
    """Name, fixed columns, up to three key test metrics, device.

    The name takes the width left beside as many columns as fit; the rest scroll into view.
    """
    metrics = [Column(f"test:{m}", f"{m}\n(test)", max(len(m), 7),
                      lambda r, m=m: _number(r.test.get(m)), True)
               for m in key_metrics(runs, limit=3)]
    base = base_columns(runs, now)
    others = [*base, *metrics, DEVICE]
    room = NAME_WIDTH[0]
    for shown in range(len(others), len(base), -1):
        room = screen_width - sum(c.width + 2 for c in others[:shown]) - 5  # arrow, bar, pad
        if room >= NAME_WIDTH[2]:
            break
    width = min(max(room, NAME_WIDTH[0]), NAME_WIDTH[1])
    # By name, a sweep's trials come together, in trial order.
    return [Column("name", "name\n", width,
                   lambda r: (r.name.lower(), r.sweep_id or "", r.trial or 0)), *others]


def select(runs: list[RunSummary], text: str, column: Column | None,
           reverse: bool) -> list[RunSummary]:
    """Runs whose text holds every word of ``text``, sorted by ``column`` (missing last)."""
    words = text.lower().split()
    runs = [r for r in runs if all(w in r.haystack() for w in words)]
    if column is None:
        return runs
    present = [r for r in runs if column.sort(r) is not None]
    missing = [r for r in runs if column.sort(r) is None]
    return sorted(present, key=column.sort, reverse=reverse) + missing


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to ``width`` (names differ at their ends: ``x:popularity``)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]
