"""Elapsed and remaining time of a training run, as the progress lines and bars show them.

Rich's own remaining-time column estimates speed from the updates of the last 30 seconds: an
epoch bar that moves once a minute never gets an estimate, and a batch bar reset each epoch
starts over. These estimates come from whole epochs (the mean wall time of those done) and from
the batches of the current epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def clock(seconds: float) -> str:
    """``0:42``, ``12:03``, ``1:02:03``: a duration as a clock reads."""
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class RunTime:
    """Training time spent and, while epochs remain, the estimate of what is left."""

    elapsed: float
    left: float | None = None
    notes: tuple[str, ...] = ()

    def short(self) -> str:
        """``~1:10 left`` (for a progress bar), or empty when nothing is estimated."""
        return f"~{clock(self.left)} left" if self.left is not None else ""

    def __str__(self) -> str:
        done = f"{clock(self.elapsed)} elapsed"
        if self.left is None:
            return done
        return f"{done}, {self.short()} ({'; '.join(self.notes)})"


def run_time(
    *, epoch: int, epochs: int, seconds: float, waited: int, patience: int,
    max_minutes: float | None,
) -> RunTime:
    """Training time after ``epoch`` of ``epochs``, ``seconds`` spent so far; as text e.g.
    ``0:12 elapsed, ~1:10 left (17 epochs; sooner if 3 pass without improvement)``.

    The estimate is the epochs left times the mean epoch so far, capped by the time budget;
    early stopping may end training sooner, which a note says.
    """
    left_epochs = epochs - epoch
    if epoch <= 0 or left_epochs <= 0:
        return RunTime(seconds)
    left = left_epochs * seconds / epoch
    capped = max_minutes is not None and max_minutes * 60 - seconds < left
    if max_minutes is not None and capped:
        left = max(0.0, max_minutes * 60 - seconds)
    notes = ["time budget" if capped else f"{left_epochs} epoch{'s' if left_epochs != 1 else ''}"]
    patience_left = patience - waited
    if 0 < patience_left < left_epochs:
        notes.append(f"sooner if {patience_left} pass without improvement")
    return RunTime(seconds, left, tuple(notes))


def epoch_remaining(done: int, total: int, seconds: float) -> str:
    """Time left in the current epoch after ``done`` of ``total`` batches took ``seconds``."""
    if done <= 0 or total <= done:
        return ""
    return f"~{clock((total - done) * seconds / done)} left"
