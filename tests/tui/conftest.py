"""Fixtures for the TUI tests: a deterministic results file and an app factory."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .results_fixture import NOW, add_sweeps, build


@pytest.fixture
def anyio_backend() -> str:
    """Run the async (Pilot) tests on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def fixture_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture results file, built once per session; tests must not write to it."""
    return build(tmp_path_factory.mktemp("tui") / "results.duckdb")


@pytest.fixture
def results_copy(fixture_results: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture results file that a test may write to."""
    path = tmp_path / "results.duckdb"
    shutil.copy(fixture_results, path)
    return path


@pytest.fixture
def make_app(fixture_results: Path) -> Callable[..., object]:
    """Build the app on the fixture file with a fixed clock and no automatic refresh."""
    from recsys_kit.tui.app import RecsysApp

    def _make(path: Path | None = None, **kwargs: object) -> RecsysApp:
        options: dict = {"clock": lambda: NOW, "refresh_s": 3600.0, **kwargs}
        return RecsysApp(path or fixture_results, **options)

    return _make


@pytest.fixture(scope="session")
def sweep_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture results file with three sweeps added; tests must not write to it."""
    return add_sweeps(build(tmp_path_factory.mktemp("tui-sweeps") / "results.duckdb"))
