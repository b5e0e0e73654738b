"""The TUI on 100 runs and 1 million recommendation rows shows what it must (its speed is
measured by ``benchmarks/tui_benchmarks.py``, not asserted here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.queries import Reader
from recsys_kit.tui.user_screen import UserScreen

from .large_fixture import build_large

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 runs, 1,000 users each, top-10: 1,000,000 recommendation rows."""
    return build_large(tmp_path_factory.mktemp("large") / "results.duckdb")


async def test_opens_on_a_million_recommendations(large: Path) -> None:
    assert Reader(large).sql("SELECT count(*) FROM recommendations").rows == [(1_000_000,)]
    app = RecsysApp(large, refresh_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#runs", DataTable).row_count == 100
        app.push_screen(UserScreen("20260101-000007-run-0007", "500"))
        await pilot.pause()
        assert app.screen.query_one("#recs", DataTable).row_count == 10


def test_user_and_compare_queries_on_a_large_file(large: Path) -> None:
    reader = Reader(large)
    view = reader.user("20260101-000042-run-0042", "999")
    comparison = reader.compare("20260101-000001-run-0001", "20260101-000002-run-0002")
    assert view is not None and len(view.recommendations) == 10 and len(view.history) == 49
    assert len(comparison.users) == 200
