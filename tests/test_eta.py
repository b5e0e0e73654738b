"""Elapsed and remaining training time on the epoch lines and progress bars."""

from __future__ import annotations

from pathlib import Path

from recsys_kit.runner.eta import clock, epoch_remaining, run_time
from recsys_kit.testing import tiny


def test_clock_reads_like_a_clock() -> None:
    assert [clock(s) for s in (0, 4.2, 61, 3600 + 62)] == ["0:00", "0:05", "1:01", "1:01:02"]


def test_remaining_is_epochs_left_times_the_mean_epoch_with_early_stopping_noted() -> None:
    timing = run_time(epoch=3, epochs=20, seconds=12.0, waited=1, patience=4, max_minutes=None)
    assert timing.left == 68.0  # 17 epochs left x 4 s
    assert str(timing) == ("0:12 elapsed, ~1:08 left (17 epochs; sooner if 3 pass without "
                           "improvement)")
    assert timing.short() == "~1:08 left"


def test_the_time_budget_caps_the_estimate() -> None:
    timing = run_time(epoch=2, epochs=100, seconds=60.0, waited=0, patience=200, max_minutes=2)
    assert timing.left == 60.0 and timing.notes == ("time budget",)


def test_nothing_is_estimated_after_the_last_epoch() -> None:
    timing = run_time(epoch=5, epochs=5, seconds=10.0, waited=0, patience=2, max_minutes=None)
    assert str(timing) == "0:10 elapsed" and timing.short() == ""


def test_epoch_remaining_from_the_batches_done() -> None:
    assert epoch_remaining(10, 40, 5.0) == "~0:15 left"
    assert epoch_remaining(0, 40, 0.0) == epoch_remaining(40, 40, 9.0) == ""


def test_epoch_lines_show_elapsed_and_remaining_time(tmp_path: Path) -> None:
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.pipeline import Runner

    recipe = tiny(tmp_path / "runs", "train.epochs=3", "train.patience=5")
    console = Console(record=True, width=200)
    Runner(make_plugins(), console).run(validate_mapping(recipe, make_plugins().registry))
    text = console.export_text()
    assert "epoch   1/3" in text and "elapsed, ~" in text and "left (2 epochs)" in text
    assert "training stopped (epochs) after 3 epochs in " in text
