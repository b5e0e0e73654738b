"""Bad rows: what makes a row bad (SQL that names the reason), and what happens to them
(the first one is an error naming file and line, or all are skipped, counted and reported)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recsys_kit.errors import DataError

if TYPE_CHECKING:
    from recsys_kit.runner.context import DataContext

SHOWN = 100  # bad rows per file kept in ctx.notes["ingest_skipped"]
#: RE2 class of control characters (C0 and DEL): never part of a real id, and invisible
#: when printed, so 'a\x00b' and 'ab' would look like one id.
CONTROL = "'[\\x00-\\x1f\\x7f]'"


def control_in(text_sql: str, what: str) -> str:
    """A CASE arm naming a row whose ``text_sql`` holds a control character."""
    return f"WHEN regexp_matches({text_sql}, {CONTROL}) THEN '{what} holds a control " \
           "character (NUL, tab, escape, ...)' "


def not_finite(number_sql: str, what: str) -> str:
    """A CASE arm naming a row whose number is NaN or infinite (the text 'nan', 'inf', a
    JSON NaN, 1e999, a Parquet NaN): it would sort or average as if it were data."""
    return f"WHEN NOT isfinite({number_sql}) THEN '{what} is not a finite number' "


@dataclass
class Bad:
    """Bad rows of one file: how many of each kind, and the first few (line, kind, text)."""

    file: Path
    unit: str
    kinds: dict[str, int]
    first: list[tuple[int, str, str]]


def handle_bad_rows(ctx: DataContext, policy: str, bad: Bad) -> None:
    """Raise a DataError for the first bad row (policy error), or note and report them (skip)."""
    total = sum(bad.kinds.values())
    if not total:
        return
    line, kind, text = bad.first[0]
    if policy == "error":
        shown = f" (the {bad.unit} reads {text[:120]!r})" if text else ""
        more = f" {total - 1} more {bad.unit}s are bad too." if total > 1 else ""
        hint = " If the file is latin-1, set encoding: latin-1." if "encoding" in kind else ""
        raise DataError(f"{bad.file} {bad.unit} {line}: {kind}{shown}.{more}{hint} Fix the file, "
                        "or set on_bad_rows: skip to skip such rows (they are counted, reported).")
    noted = [(str(bad.file), n, k) for n, k, _ in bad.first]
    ctx.notes.setdefault("ingest_skipped", []).extend(noted)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(bad.kinds.items()))
    where = ", ".join(str(n) for n, _, _ in bad.first[:5])
    many = "s" if total > 1 else ""
    ctx.report("ingest", f"{bad.file.name}: skipped {total} bad row{many} ({kinds}); first at "
               f"{bad.unit}{many} {where}")
