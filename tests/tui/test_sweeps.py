"""Sweeps in the TUI: the queries, the trials table and plot data (headless), and the screen."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from recsys_kit.store import ResultStore
from recsys_kit.tui import plot
from recsys_kit.tui.app import RecsysApp
from recsys_kit.tui.queries import Reader, SweepDetail
from recsys_kit.tui.run_screen import RunScreen
from recsys_kit.tui.runs_screen import RunsScreen
from recsys_kit.tui.sweep_plot import SweepPlotView
from recsys_kit.tui.sweep_screen import SweepScreen
from recsys_kit.tui.sweep_view import (
    Choice,
    fmt_param,
    metric_choices,
    plot_params,
    short_names,
    sort_trials,
    sweep_plot,
    trial_columns,
)

from .helpers import column, drive, text_of, until
from .results_fixture import (
    GRID_BEST,
    GRID_SWEEP,
    OPTUNA_SWEEP,
    ROLLING_SWEEP,
    ROUND_1,
    SASREC,
)

VALID = Choice("valid", "ndcg@10")


def _sweep(path: Path, sweep_id: str) -> SweepDetail:
    detail = Reader(path).sweep(sweep_id)
    assert detail is not None
    return detail


# -- queries -----------------------------------------------------------------------------------

def test_the_runs_list_knows_each_trials_sweep(sweep_results: Path, fixture_results: Path
                                               ) -> None:
    runs = {r.run_id: r for r in Reader(sweep_results).runs()}
    assert (runs[GRID_BEST].sweep_id, runs[GRID_BEST].trial) == (GRID_SWEEP, 4)
    assert (runs[ROUND_1].sweep_id, runs[ROUND_1].trial) == (ROLLING_SWEEP, 1)
    assert runs[SASREC].sweep_id is None and runs[SASREC].trial is None
    assert GRID_SWEEP in runs[GRID_BEST].haystack()  # the filter finds a sweep's trials
    assert all(r.sweep_id is None for r in Reader(fixture_results).runs())


def test_a_sweep_with_its_trials(sweep_results: Path) -> None:
    grid = _sweep(sweep_results, GRID_SWEEP)
    assert (grid.method, grid.status, grid.done, grid.n_trials) == ("grid", "completed", 6, 6)
    assert grid.params == ["train.lr", "model.encoders.user.params.dim"]
    assert [t.number for t in grid.trials] == [1, 2, 3, 4, 5, 6]
    assert grid.best_trial is not None and grid.best_trial.run_id == GRID_BEST
    failed = grid.trials[4]
    assert failed.status == "failed" and failed.valid == {} and failed.test == {}
    # Validation at the run's best epoch (2), not its last (0.15); test from the best weights.
    assert grid.trials[5].valid["ndcg@10"] == pytest.approx(0.17)
    assert grid.trials[5].test["ndcg@10"] == pytest.approx(0.158)
    rolling = _sweep(sweep_results, ROLLING_SWEEP)
    assert (rolling.status, rolling.done, rolling.best_trial) == ("running", 3, None)
    assert Reader(sweep_results).sweep("sweep-nope") is None


def test_a_file_without_sweeps(fixture_results: Path) -> None:
    assert Reader(fixture_results).sweep(GRID_SWEEP) is None


# -- the trials table and the plot's data ------------------------------------------------------

def test_trial_columns_and_sorting(sweep_results: Path) -> None:
    grid = _sweep(sweep_results, GRID_SWEEP)
    columns = trial_columns(grid)
    assert [c.label.split("\n")[0] for c in columns] == \
        ["#", "status", "lr", "dim", "ndcg@10", "ndcg@10"]
    valid = next(c for c in columns if c.key == "valid:ndcg@10")
    assert valid.descending and [valid.text(t) for t in grid.trials[:2]] == ["0.1200", "0.1400"]
    ordered = sort_trials(grid.trials, valid, reverse=True)
    assert [t.number for t in ordered] == [4, 3, 6, 2, 1, 5]  # the failed trial last
    lr = next(c for c in columns if c.key == "param:train.lr")
    assert [t.number for t in sort_trials(grid.trials, lr, False)][:2] == [1, 2]
    rolling = _sweep(sweep_results, ROLLING_SWEEP)
    assert plot_params(rolling) == []  # the round param repeats the round number
    assert [c.label.split("\n")[0] for c in trial_columns(rolling)][:2] == ["round", "status"]


def test_params_and_their_names() -> None:
    assert [fmt_param(v) for v in (0.001, 64, "bce", True, None, [1, 2])] == \
        ["0.001", "64", "bce", "true", "—", "[1,2]"]
    assert short_names(["train.lr", "model.item.dim", "model.user.dim"]) == \
        {"train.lr": "lr", "model.item.dim": "item.dim", "model.user.dim": "user.dim"}


def test_metric_choices_start_with_the_sweeps_metric(sweep_results: Path) -> None:
    assert metric_choices(_sweep(sweep_results, GRID_SWEEP)) == [
        VALID, Choice("test", "ndcg@10"), Choice("test", "hr@10"), Choice("valid", "hr@10")]


def test_a_numeric_param_over_two_decades_is_on_a_log_axis(sweep_results: Path) -> None:
    grid = _sweep(sweep_results, GRID_SWEEP)
    data = sweep_plot(grid, "train.lr", VALID)
    assert data.title == "valid ndcg@10 against train.lr (log scale)" and not data.joined
    assert data.xs == pytest.approx([-4, -4, -3, -3, -2])  # the failed trial 5 is not drawn
    assert data.ys == pytest.approx([0.12, 0.14, 0.2, 0.23, 0.17])
    assert [label for _, label in data.ticks] == ["0.0001", "0.001", "0.01"]
    assert data.mark == pytest.approx(-3) and data.note == "1 of 6 not drawn"
    dim = sweep_plot(grid, "model.encoders.user.params.dim", Choice("test", "ndcg@10"))
    assert "log" not in dim.title and sorted(set(dim.xs)) == [32.0, 64.0]


def test_a_string_param_is_evenly_spaced_labels(sweep_results: Path) -> None:
    optuna = _sweep(sweep_results, OPTUNA_SWEEP)
    data = sweep_plot(optuna, "train.loss", VALID)
    assert data.xs == [0.0, 1.0] and data.ticks == [(0.0, "softmax"), (1.0, "bce")]
    assert data.note == "1 of 3 not drawn"  # the interrupted trial


def test_a_rolling_sweep_is_plotted_per_round(sweep_results: Path) -> None:
    data = sweep_plot(_sweep(sweep_results, ROLLING_SWEEP), None, Choice("test", "ndcg@10"))
    assert data.title == "test ndcg@10 per round" and data.joined
    assert data.xs == [1.0, 2.0, 3.0] and data.ys == pytest.approx([0.17, 0.2, 0.18])
    assert data.mark is None and data.note == ""


def test_plot_points_and_ticks() -> None:
    drawn = plot.render([0, 1, 2], [1.0, 2.0, 1.5], width=30, height=6, points=True,
                        xticks=[(0, "bce"), (1, "softmax"), (2, "gbce"), (1.05, "clash")])
    cells = "".join(dots for _, dots in drawn.rows)
    assert cells.count("⣿") == 3 and set(cells) <= {" ", "⣿"}
    assert drawn.xlabels.split() == ["bce", "softmax", "gbce"]  # "clash" would touch softmax
    assert drawn.xlabels.endswith("gbce") and len(drawn.xlabels) <= 30


# -- the screen --------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_ctrl_g_opens_the_sweep_of_the_run(
        make_app: Callable[..., RecsysApp], sweep_results: Path) -> None:
    app = make_app(sweep_results)
    async with app.run_test(size=(80, 24)) as pilot:
        await drive(pilot, [f"@run:{SASREC}", "ctrl+g"])
        assert isinstance(app.screen, RunsScreen)  # not a trial: says so, stays
        await drive(pilot, [f"@run:{GRID_BEST}", "ctrl+g"])
        screen = app.screen
        assert isinstance(screen, SweepScreen) and screen.sweep_id == GRID_SWEEP
        summary = text_of(screen.query_one("#sweep-summary", Static))
        assert "grid  completed  6/6 trials" in summary and GRID_SWEEP in summary
        assert f"best #4 · valid 0.2300 · test 0.2210 · run {GRID_BEST}" in summary
        table = screen.query_one("#trials", DataTable)
        assert column(table, 0) == ["1", "2", "3", "4", "5", "6"]
        assert column(table, 1)[4] == "failed" and column(table, 4)[4] == "—"
        chart = screen.query_one("#sweep-plot", SweepPlotView)
        assert chart.data is not None and chart.data.title.endswith("train.lr (log scale)")
        await drive(pilot, ["x", "m"])
        assert chart.data.title == "test ndcg@10 against model.encoders.user.params.dim"
        await drive(pilot, ["ctrl+o", "ctrl+o", "ctrl+o", "ctrl+o", "ctrl+o"])
        assert screen.sort_key == "valid:ndcg@10" and column(table, 0)[:2] == ["4", "3"]
        await drive(pilot, ["ctrl+r"])
        assert column(table, 0)[:2] == ["1", "2"]  # ascending; the failed trial stays last
        await drive(pilot, ["enter"])
        assert isinstance(app.screen, RunScreen) and app.screen.run_id.endswith("-t1")


@pytest.mark.anyio
async def test_a_running_sweep_fills_in_as_trials_finish(
        make_app: Callable[..., RecsysApp], results_copy: Path) -> None:
    store = ResultStore(results_copy)
    store.start_sweep("sweep-new", name="fresh", method="grid", space={"grid": {}},
                      n_trials=2, metric="ndcg@10", direction="maximize", recipe={},
                      source="fresh.yaml")
    app = make_app(results_copy, refresh_s=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(SweepScreen("sweep-new"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        table = screen.query_one("#trials", DataTable)
        chart = screen.query_one("#sweep-plot", SweepPlotView)
        assert table.row_count == 0 and chart.data is not None
        assert chart.data.note == "no trials yet"
        assert "0/2 trials" in text_of(screen.query_one("#sweep-summary", Static))
        store.start_run(run_id="r1", name="fresh", recipe={}, source="fresh.yaml",
                        versions={}, device="cpu", seed=1, monitor="ndcg@10", plugins=[])
        store.tag_trial("r1", "sweep-new", 1, {"train.optimizer": "adam"})
        await until(pilot, lambda: table.row_count == 1)
        assert chart.data.note == "no finished trials with valid ndcg@10 yet"
        store.log_metrics("r1", "valid", 1, {"ndcg@10": 0.3})
        store.finish_run("r1", "completed", best_epoch=1)
        await until(pilot, lambda: column(table, 1) == ["completed"])
        assert chart.data.xs == [0.0] and chart.data.ticks == [(0.0, "adam")]
        assert math.isclose(chart.data.ys[0], 0.3)
