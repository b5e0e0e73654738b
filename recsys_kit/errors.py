"""User-facing errors: each names where the problem is and what to do next."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class RecsysKitError(Exception):
    """Base of every error meant for a user: printed as one paragraph, exit status 1."""

    exit_code = 1


@dataclass
class RecipeIssue:
    """One problem found in a recipe: where it is and what was expected."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "<recipe>")
        path = f" {self.path}:" if self.path else ""
        return f"{where}:{path} {self.message}"


@dataclass
class RecipeError(RecsysKitError):
    """A recipe that does not validate; carries every issue found, not only the first."""

    issues: list[RecipeIssue] = field(default_factory=list)
    exit_code = 2

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"The recipe has {n} error{'s' if n != 1 else ''}:"
        body = "\n".join(f"  {issue}" for issue in self.issues)
        return (
            f"{head}\n{body}\n"
            "Fix these and run `recsys-kit validate` again; "
            "`recsys-kit schema` shows every accepted field."
        )


class DataError(RecsysKitError):
    """Input data that cannot be read: names the file, the line or row, and the fix."""


class PluginError(RecsysKitError):
    """A plugin that cannot be loaded, or two plugins that claim the same stage."""


class StoreError(RecsysKitError):
    """The results file cannot be written or read (disk full, locked, wrong version)."""


class NonFiniteError(RecsysKitError):
    """A loss, score or prediction that is NaN or infinite: the run stops as failed."""
