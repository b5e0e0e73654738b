"""SVG snapshots of every screen at 80×24 (fixed data and clock, no cursor blink).

Update after an intended change with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from recsys_kit.tui.app import RecsysApp

from .helpers import drive
from .results_fixture import GRID_BEST, ROUND_1

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


#: Screens of the file with sweeps (``sweep_results``): the runs list marks trials with #N.
SWEEP_SCREENS: dict[str, Sequence[str]] = {
    "runs_with_sweeps": (),
    "sweep_grid": (f"@run:{GRID_BEST}", "ctrl+g"),
    "sweep_rolling": (f"@run:{ROUND_1}", "ctrl+g"),
}


@pytest.mark.parametrize("screen", list(SWEEP_SCREENS))
def test_sweep_screen_snapshot(screen: str, snap_compare: Callable[..., bool],
                               make_app: Callable[..., RecsysApp], sweep_results: Path) -> None:
    assert snap_compare(make_app(sweep_results),
                        run_before=lambda pilot: drive(pilot, SWEEP_SCREENS[screen]),
                        terminal_size=(80, 24))
