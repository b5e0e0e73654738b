"""The runs list's columns, filter and sort order (headless: no Textual)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

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

BASE_COLUMNS = [
    Column("status", "status\n", 9, lambda r: r.status),
    Column("start", "start\n(UTC)", 11, lambda r: r.started_at or datetime.min, True),
    Column("time", "time\n", 6, lambda r: r.duration_s, True),
    Column("epoch", "ep\n", 3, lambda r: r.epoch, True),
    Column("monitor", "monitor\n(valid)", 7, lambda r: r.monitor_value, True),
]
DEVICE = Column("device", "device\n", 6, lambda r: r.device or "")


def layout(runs: list[RunSummary], screen_width: int) -> list[Column]:
    """Name, fixed columns, up to three key test metrics, device.

    The name takes the width left beside as many columns as fit; the rest scroll into view.
    """
    metrics = [Column(f"test:{m}", f"{m}\n(test)", max(len(m), 7),
                      lambda r, m=m: r.test.get(m), True) for m in key_metrics(runs, limit=3)]
    others = [*BASE_COLUMNS, *metrics, DEVICE]
    room = NAME_WIDTH[0]
    for shown in range(len(others), len(BASE_COLUMNS), -1):
        room = screen_width - sum(c.width + 2 for c in others[:shown]) - 5  # arrow, bar, pad
        if room >= NAME_WIDTH[2]:
            break
    width = min(max(room, NAME_WIDTH[0]), NAME_WIDTH[1])
    return [Column("name", "name\n", width, lambda r: r.name.lower()), *others]


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
