"""Text formatting shared by the screens (headless: no Textual)."""

from __future__ import annotations

import math
from datetime import datetime


def metric_key(metric: str, k: int | None) -> str:
    """``('ndcg', 10)`` -> ``'ndcg@10'``; ``('loss', None)`` -> ``'loss'``."""
    return metric if k is None else f"{metric}@{k}"


def fmt_value(value: float | None, digits: int = 4) -> str:
    """A metric value with fixed decimals; ``—`` when missing, ``nan`` / ``inf`` as such."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}"


def fmt_timing(timing: dict[str, float], epochs: int) -> str:
    """Mean training timings as one line: ``10.8 s/epoch · eval 1.6 s · 278 seq/s``."""
    parts = []
    if (epoch := timing.get("epoch_seconds")) is not None:
        parts.append(f"{epoch:.1f} s/epoch")
    if (evaluation := timing.get("eval_seconds")) is not None:
        parts.append(f"eval {evaluation:.1f} s")
    if (speed := timing.get("sequences_per_s")) is not None:
        parts.append(f"{speed:,.0f} seq/s")
    if not parts:
        return ""
    mean = f" (mean of {epochs} epochs)" if epochs > 1 else ""
    return "training: " + " · ".join(parts) + mean


def non_finite(epochs: list[int], values: list[float]) -> str:
    """Which points are not finite: ``nan at epoch 2``, ``inf at epochs 3, 4``; ``''`` if none.

    More than three epochs of one kind are counted: ``nan at 7 epochs from 2``.
    """
    bad: dict[str, list[int]] = {}
    for epoch, value in zip(epochs, values, strict=True):
        if not math.isfinite(value):
            bad.setdefault(str(value), []).append(epoch)
    parts = []
    for kind, where in bad.items():
        if len(where) == 1:
            parts.append(f"{kind} at epoch {where[0]}")
        elif len(where) <= 3:
            parts.append(f"{kind} at epochs {', '.join(map(str, where))}")
        else:
            parts.append(f"{kind} at {len(where)} epochs from {where[0]}")
    return "; ".join(parts)


def fmt_delta(value: float | None, digits: int = 4) -> str:
    """A signed difference; ``—`` when missing."""
    if value is None:
        return "—"
    return f"{value:+.{digits}f}"


def fmt_duration(seconds: float | None) -> str:
    """``4.4s``, ``2m05s``, ``1h02m``; ``—`` when missing."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_start(when: datetime | None) -> str:
    """Short start time for lists: ``11-28 00:11``."""
    return "—" if when is None else when.strftime("%m-%d %H:%M")


def fmt_time(when: datetime | None) -> str:
    """Full timestamp: ``2026-11-28 00:11:39``."""
    return "—" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def fmt_bytes(size: int | None) -> str:
    """``13.0 KiB``; ``—`` when unknown."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def fmt_cell(value: object) -> str:
    """Any SQL value as a table cell."""
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return fmt_time(value)
    return str(value)


#: Rich styles of run statuses.
STATUS_STYLE = {"completed": "green", "running": "bold yellow", "failed": "bold red",
                "interrupted": "magenta", "lost": "bold magenta"}
