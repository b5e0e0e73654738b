"""What 80 columns by 24 rows must still show: the exception above its traceback, artifact
files under their folder named once, whole status words in the runs list."""

from __future__ import annotations

from datetime import datetime

from recsys_kit.tui.queries.runs import RunSummary
from recsys_kit.tui.run_columns import layout
from recsys_kit.tui.run_details import artifact_folder, error_first

LONG_TRACEBACK = "Traceback (most recent call last):\n" + "".join(
    f'  File "recsys_kit/module_{i}.py", line {i}, in step_{i}\n    call_{i}()\n'
    for i in range(40)) + "ValueError: the real reason\nsecond line of the message\n"


def test_the_exception_comes_before_a_long_traceback() -> None:
    text = error_first(LONG_TRACEBACK).plain
    lines = text.splitlines()
    assert lines[:2] == ["ValueError: the real reason", "second line of the message"]
    assert lines[3] == "Traceback (most recent call last):"
    assert len(lines) == 3 + 1 + 80  # every frame is still there, after it


def test_chained_tracebacks_show_the_last_exception_first() -> None:
    chained = ("Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'\n\n"
               "During handling of the above exception, another exception occurred:\n\n"
               + LONG_TRACEBACK)
    assert error_first(chained).plain.startswith("ValueError: the real reason")


def test_an_error_without_traceback_is_shown_as_it_is() -> None:
    assert error_first("Training diverged: loss is nan.").plain == "Training diverged: loss is nan."


def test_artifact_paths_share_their_folder() -> None:
    run = "runs/artifacts/20260105-100000-a-very-long-recipe-name-for-this-run-a1b2"
    folder, files = artifact_folder([f"{run}/best.safetensors", f"{run}/users/metrics.parquet"])
    assert folder == run and files == ["best.safetensors", "users/metrics.parquet"]
    assert artifact_folder([]) == ("", [])
    assert artifact_folder(["a.bin", "b.bin"]) == ("", ["a.bin", "b.bin"])


def test_the_runs_list_shows_whole_status_words() -> None:
    now = datetime(2026, 1, 5, 12)
    runs = [RunSummary("r1", "sasrec", "interrupted", now, 5.0, "cpu", "ndcg@10", 1, 0.1),
            RunSummary("r2", "bert4rec", "failed", now, 5.0, "cpu", "ndcg@10", 1, 0.1)]
    status = next(c for c in layout(runs, 80, now) if c.key == "status")
    assert status.width >= len("interrupted")
