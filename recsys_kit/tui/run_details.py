"""What the run screen's Error and Artifacts tabs show, arranged for a small terminal.

A stored error is a Python traceback whose last lines say what went wrong: shown as stored, a
long traceback pushes them below the screen, so the exception comes first. Artifact paths share
one long folder (``<dir>/artifacts/<run id>/``): it is named once, above a table of file names.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from rich.text import Text

_TRACEBACK = "Traceback (most recent call last):"


def error_first(error: str) -> Text:
    """``error`` with its exception (the lines after the last traceback frame) on top, then the
    traceback; an error without a traceback as it is."""
    lines = error.rstrip().splitlines()
    if _TRACEBACK not in lines:
        return Text(error.rstrip(), style="red")
    start = len(lines) - 1 - lines[::-1].index(_TRACEBACK)
    frames_end = start + 1
    while frames_end < len(lines) and lines[frames_end].startswith((" ", "\t")):
        frames_end += 1
    exception = "\n".join(lines[frames_end:]).strip() or lines[-1]
    traceback = "\n".join(lines[:frames_end])
    return Text.assemble((exception, "bold red"), "\n\n", (traceback, "dim"))


def beside_results(path: str, results: Path) -> str:
    """``path`` relative to the results file's folder when it lies under it (runs write their
    artifacts there), else as stored."""
    folder = Path(results).absolute().parent
    if PurePath(path).is_absolute() and PurePath(path).is_relative_to(folder):
        return str(PurePath(path).relative_to(folder))
    return path


def artifact_folder(paths: list[str]) -> tuple[str, list[str]]:
    """The folder every artifact path shares (empty if none) and each path relative to it."""
    if not paths:
        return "", []
    parents = [str(PurePath(p).parent) for p in paths]
    try:
        common = os.path.commonpath(parents)
    except ValueError:  # absolute and relative paths mixed
        return "", list(paths)
    if common in ("", "."):
        return "", list(paths)
    return common, [os.path.relpath(p, common) for p in paths]
