"""A recipe runs to completion in another process while the TUI is open on its results file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable

from recsys_kit.store.results import now
from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.run_screen import RunScreen

pytestmark = pytest.mark.anyio

RUN_TINY = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rich.console import Console
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.testing import tiny

    plugins = make_plugins()
    recipe = tiny(Path(sys.argv[1]))
    loaded = validate_mapping(recipe, plugins.registry)
    outcome = Runner(plugins, Console(quiet=True)).run(loaded)[0]
    print(outcome.status, outcome.run_id)
    sys.exit(0 if outcome.status == "completed" else 1)
""")


async def test_recipe_completes_while_the_tui_watches(
    tmp_path: Path, make_app: Callable[..., RecsysApp]
) -> None:
    out = tmp_path / "runs"
    app = make_app(out / "results.duckdb", refresh_s=0.25, clock=now)
    log = (tmp_path / "run.log").open("w")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#runs", DataTable)
        assert table.row_count == 0
        run = subprocess.Popen([sys.executable, "-c", RUN_TINY, str(out)], stdout=log,
                               stderr=subprocess.STDOUT)
        seen: set[str] = set()
        deadline = time.monotonic() + 150
        while run.poll() is None and time.monotonic() < deadline:
            await pilot.pause(0.1)
            seen |= {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        log.close()
        assert run.wait(timeout=5) == 0, (tmp_path / "run.log").read_text()
        await pilot.pause(0.5)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "tiny" and row[1] == "completed" and row[4] == "2"
        assert "running" in seen  # the TUI showed the run while it trained
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        loss = app.screen.query_one("#loss-plot")
        assert loss.curve is not None and loss.curve.epochs == [1, 2]
