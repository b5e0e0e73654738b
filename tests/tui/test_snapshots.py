"""SVG snapshots of every screen at 80×24 (fixed data and clock, no cursor blink).

Update after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from recsys_kit.tui.app import RecsysApp

from .helpers import drive

SCREENS: dict[str, Sequence[str]] = {
    "runs": (),
    "run_metrics": ("ctrl+end", "enter"),
    "run_curves": ("ctrl+end", "enter", "2"),
    "run_recipe": ("ctrl+end", "enter", "3"),
    "run_plugins": ("ctrl+end", "enter", "4"),
    "run_artifacts": ("ctrl+end", "enter", "5"),
    "run_failed": ("down", "down", "enter"),
    "user": ("ctrl+end", "ctrl+n", "down"),
    "compare": ("ctrl+end", "space", "up", "ctrl+p"),
    "sql": ("ctrl+s", "=SELECT name, status, best_epoch FROM runs ORDER BY name", "enter"),
    "sql_syntax_error": ("ctrl+s", "=SELEC * FROM runs", "enter"),
    "help": ("question_mark",),
}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    screen: str, snap_compare: Callable[..., bool], make_app: Callable[..., RecsysApp]
) -> None:
    assert snap_compare(make_app(), run_before=lambda pilot: drive(pilot, SCREENS[screen]),
                        terminal_size=(80, 24))
