"""How fast the TUI opens and answers on a large results file (100 runs, 1,000,000
recommendation rows, built by SQL alone): a table of figures, never asserted.

    python benchmarks/tui_benchmarks.py [--repeat 5]

"open" is the time from creating the app (80x24, headless) to the runs table being filled,
in one warm Python process: starting Python and importing Textual come on top.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys_kit.tui.app import RecsysApp  # noqa: E402
from recsys_kit.tui.queries import Reader  # noqa: E402
from tests.tui.large_fixture import build_large  # noqa: E402


async def _open_seconds(path: Path) -> float:
    from textual.widgets import DataTable

    started = time.perf_counter()
    app = RecsysApp(path, refresh_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#runs", DataTable).row_count == 100
        return time.perf_counter() - started


def main() -> None:
    """Build the large file, time each action ``--repeat`` times, print median and best."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-bench-") as tmp:
        path = build_large(Path(tmp) / "results.duckdb")
        reader = Reader(path)
        actions = {
            "open: runs table filled": lambda: asyncio.run(_open_seconds(path)),
            "user screen query": lambda: reader.user("20260101-000042-run-0042", "999"),
            "compare two runs query": lambda: reader.compare("20260101-000001-run-0001",
                                                             "20260101-000002-run-0002"),
        }
        print(f"{'action':<28}{'median s':>10}{'best s':>10}")
        for name, action in actions.items():
            times = [_seconds(action) for _ in range(args.repeat)]
            print(f"{name:<28}{statistics.median(times):>10.3f}{min(times):>10.3f}")
    print("\n100 runs, 1,000 users each, top-10; times in one warm process.")


def _seconds(action: Callable[[], object]) -> float:
    """The seconds ``action`` took (an open returns its own, inside the event loop)."""
    started = time.perf_counter()
    result = action()
    return result if isinstance(result, float) else time.perf_counter() - started


if __name__ == "__main__":
    main()
