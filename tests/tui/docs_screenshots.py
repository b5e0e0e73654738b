"""Save an SVG of every TUI screen on a real results file, for docs/tui.md.

    python -m tests.tui.docs_screenshots runs/results.duckdb docs/images

Picks the newest completed run that trained, its baseline (or another run) to compare, the
newest failed run, and a user whose held-out item the trained run ranked.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.queries import Reader
from tests.tui.helpers import drive

SIZE = (80, 24)


def _pick(path: Path) -> dict[str, str]:
    reader = Reader(path)
    runs = reader.runs()
    trained = next(r for r in runs if r.status == "completed" and r.epoch)
    other = next(r for r in runs if r.run_id != trained.run_id and r.status == "completed")
    failed = next((r for r in runs if r.status == "failed"), None)
    users = reader.compare(trained.run_id, other.run_id).users
    user = next((u for u in users if u.rank_a is not None), users[0])
    return {"trained": trained.run_id, "other": other.run_id, "user": user.user_id,
            "failed": failed.run_id if failed else ""}


def shots(pick: dict[str, str]) -> dict[str, Sequence[str]]:
    """Screen name -> keys (``@run:`` moves the runs cursor to a run, ``=`` types a value)."""
    out: dict[str, Sequence[str]] = {
        "runs": (),
        "run-metrics": (f"@run:{pick['trained']}", "enter"),
        "run-curves": (f"@run:{pick['trained']}", "enter", "2"),
        "run-recipe": (f"@run:{pick['trained']}", "enter", "3"),
        "run-plugins": (f"@run:{pick['trained']}", "enter", "4"),
        "user": (f"@run:{pick['trained']}", "ctrl+n", "slash", f"={pick['user']}", "enter"),
        "compare": (f"@run:{pick['trained']}", "space", f"@run:{pick['other']}", "ctrl+p"),
        "sql": ("ctrl+s", "=SELECT r.name, m.metric, m.k, round(m.value, 4) AS value "
                "FROM metrics m JOIN runs r USING (run_id) WHERE m.split = 'test' "
                "ORDER BY m.metric, m.k, r.name", "enter", "up"),
        "help": ("question_mark",),
    }
    if pick["failed"]:
        out["run-error"] = (f"@run:{pick['failed']}", "enter")
    return out


def save_all(results: Path, out_dir: Path) -> list[Path]:
    """Write ``tui-<screen>.svg`` for every screen into ``out_dir``."""
    return _save(results, out_dir, shots(_pick(results)))


def save_why(out_dir: Path) -> list[Path]:
    """The user screen with attention explanations, from the test fixture (no built-in
    model stores explanations yet)."""
    from tests.tui.results_fixture import NOW, SASREC, build

    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp) / "results.duckdb")
        keys = (f"@run:{SASREC}", "ctrl+n", "down", "down")
        return _save(path, out_dir, {"user-why": keys}, clock=lambda: NOW)


def save_sweeps(out_dir: Path) -> list[Path]:
    """The sweep screen of a grid sweep and of a rolling evaluation, from the test fixture."""
    from tests.tui.results_fixture import GRID_BEST, NOW, ROUND_1, add_sweeps, build

    with tempfile.TemporaryDirectory() as tmp:
        path = add_sweeps(build(Path(tmp) / "results.duckdb"))
        screens = {"sweep": (f"@run:{GRID_BEST}", "ctrl+g"),
                   "sweep-rolling": (f"@run:{ROUND_1}", "ctrl+g")}
        return _save(path, out_dir, screens, clock=lambda: NOW)


def _save(results: Path, out_dir: Path, screens: dict[str, Sequence[str]],
          **options: Any) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, keys in screens.items():
        app = RecsysApp(results, refresh_s=3600, **options)

        async def auto(pilot: Pilot, keys: Sequence[str] = keys, name: str = name) -> None:
            await drive(pilot, keys)
            pilot.app.save_screenshot(f"tui-{name}.svg", str(out_dir))
            pilot.app.exit()

        app.run(headless=True, size=SIZE, auto_pilot=auto)
        saved.append(out_dir / f"tui-{name}.svg")
    return saved


if __name__ == "__main__":
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/images")
    for path in [*save_all(Path(sys.argv[1]), out), *save_why(out), *save_sweeps(out)]:
        print(path)
