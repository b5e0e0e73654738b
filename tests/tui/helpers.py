"""Reading what the screens show, for the Pilot tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence

from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import WorkerCancelled, WorkerFailed


def cells(table: DataTable) -> list[list[str]]:
    """Every row of a table as plain strings."""
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def column(table: DataTable, index: int) -> list[str]:
    """One column of a table as plain strings."""
    return [row[index] for row in cells(table)]


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text."""
    return str(widget.render())


async def settle(pilot: Pilot[object], app: App[object]) -> None:
    """Wait for the app's workers (SQL queries run in threads, failing ones too), then for
    the screen."""
    for worker in list(app.workers):
        with contextlib.suppress(WorkerFailed, WorkerCancelled):
            await worker.wait()
    await pilot.pause()


async def until(pilot: Pilot[object], condition: Callable[[], bool], seconds: float = 10) -> None:
    """Pause until ``condition()`` holds (refreshes run on timers); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def rendered(widget: Widget) -> str:
    """The lines a widget shows on screen, as plain text."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


async def drive(pilot: Pilot, keys: Sequence[str]) -> None:
    """Press ``keys`` in turn, waiting for workers (SQL runs in a thread) after each; then
    stop input cursors blinking. ``@run:ID`` moves the runs cursor to a run and ``=text``
    types ``text`` into the focused input at once."""
    await pilot.pause()
    for key in keys:
        if key.startswith("@run:"):
            table = pilot.app.screen.query_one("#runs", DataTable)
            table.move_cursor(row=table.get_row_index(key[5:]))
        elif key.startswith("="):
            focused = pilot.app.focused
            assert isinstance(focused, Input)
            focused.value = key[1:]
        else:
            await pilot.press(key)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
