"""SVG snapshots of every screen at 80×24 (fixed data and clock, no cursor blink).

Update after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from recsys_kit.tui.app import RecsysApp

SCREENS: dict[str, Sequence[str]] = {
    "runs": (),
    "run_metrics": ("ctrl+end", "enter"),
    "run_curves": ("ctrl+end", "enter", "2"),
    "run_recipe": ("ctrl+end", "enter", "3"),
    "run_failed": ("down", "down", "enter"),
    "user": ("ctrl+end", "ctrl+n", "down"),
    "compare": ("ctrl+end", "space", "up", "ctrl+p"),
    "sql": ("ctrl+s", "SELECT name, status, best_epoch FROM runs ORDER BY name", "enter", "up"),
    "help": ("question_mark",),
}


def navigate(keys: Sequence[str]) -> Callable[[Pilot], object]:
    """Press ``keys`` (a longer string is typed into the focused input at once), wait for
    workers, then stop input cursors blinking."""

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        for key in keys:
            if len(key) > 20 and isinstance(pilot.app.focused, Input):
                pilot.app.focused.value = key
            else:
                await pilot.press(key)
        await pilot.app.workers.wait_for_complete()  # SQL queries run in a thread
        await pilot.pause()
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False

    return run_before


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    screen: str, snap_compare: Callable[..., bool], make_app: Callable[..., RecsysApp]
) -> None:
    assert snap_compare(make_app(), run_before=navigate(SCREENS[screen]), terminal_size=(80, 24))
