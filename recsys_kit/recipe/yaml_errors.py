"""Unparseable YAML explained in plain words: the line to fix, an excerpt with a caret, and
what to do.

PyYAML reports where its parser gave up, in parser terms ("expected <block end>", "mapping
values are not allowed here"), sometimes on the line after the mistake. Indentation mistakes
are the common case in hand-written recipes, so they are recognised from the parser's problem
and the lines around it, and explained against the keys above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from recsys_kit.errors import RecipeIssue

#: Contexts of YAML errors whose context mark (where the construct opened) is the useful line:
#: PyYAML only notices an unclosed quote or bracket where the document (or the line) ends.
_OPENED_AT = ("while scanning a quoted scalar", "while parsing a flow")
#: Where a line's key starts: after its indentation and any `- ` list markers.
_KEY_START = re.compile(r"^(\s*(?:-\s+)*)")
_KEY = re.compile(r"^\s*(?:-\s+)*([^\s:#][^:#]*?)\s*:(?:\s|$)")
_SHOWN_WIDTH = 100


@dataclass(frozen=True)
class _Line:
    """One line of the file: its 1-based number, text, and the column its key starts in."""

    number: int
    text: str

    @property
    def column(self) -> int:
        """0-based column of the line's first key (after `- ` markers)."""
        match = _KEY_START.match(self.text)
        return len(match.group(1)) if match else 0

    @property
    def indent(self) -> int:
        """0-based column of the line's first character."""
        return len(self.text) - len(self.text.lstrip(" "))

    @property
    def key(self) -> str | None:
        """The key the line starts with, if it is a `key:` line."""
        match = _KEY.match(self.text)
        return match.group(1) if match else None

    @property
    def has_value(self) -> bool:
        """Whether a `key:` line also holds a value (so nothing can be nested under it)."""
        key = self.key
        if key is None:
            return False
        rest = self.text.split(":", 1)[1].split(" #", 1)[0].strip()
        return bool(rest) and rest not in ("|", ">", "|-", ">-")


def excerpt(lines: list[str], line: int, column: int) -> str:
    """Numbered lines: ``line`` (1-based) and the two before it, and a caret under ``column``
    (0-based) of ``line``."""
    start = max(1, line - 2)
    width = len(str(line))
    rows = [f"{n:>{width}} | {lines[n - 1][:_SHOWN_WIDTH]}" for n in range(start, line + 1)
            if n <= len(lines)]
    rows.append(f"{'':>{width}} | {' ' * min(column, _SHOWN_WIDTH)}^")
    return "\n".join(rows)


def _above(lines: list[str], line: int) -> list[_Line]:
    """The lines above ``line`` that hold something (not blank, not only a comment), nearest
    first."""
    found = []
    for n in range(line - 1, 0, -1):
        stripped = lines[n - 1].strip()
        if stripped and not stripped.startswith("#"):
            found.append(_Line(n, lines[n - 1]))
    return found


def _open_keys(lines: list[str], line: int) -> list[_Line]:
    """The keys that enclose ``line``, innermost first: each starts left of the ones below it
    (the columns a key on ``line`` may start in)."""
    chain: list[_Line] = []
    for above in _above(lines, line):
        if above.key is not None and (not chain or above.column < chain[-1].column):
            chain.append(above)
            if above.column == 0:
                break
    return chain


def _name(entry: _Line) -> str:
    return f"'{entry.key}' (line {entry.number}, column {entry.column + 1})"


def _misaligned(lines: list[str], line: int) -> str:
    """A key in a column no enclosing key starts in."""
    here = _Line(line, lines[line - 1])
    chain = [entry for entry in _open_keys(lines, line) if entry.column != here.column]
    left = next((e for e in chain if e.column < here.column), None)
    right = next((e for e in reversed(chain) if e.column > here.column), None)
    choices = " or ".join(_name(e) for e in (right, left) if e is not None)
    fix = f"Line it up with {choices}, whichever mapping it belongs to" if choices else (
        "Line it up with the keys of the mapping it belongs to")
    return (f"this line starts in column {here.indent + 1}, but no key above it starts in that "
            "column, so it fits under none of them (keys of one mapping start in the same "
            f"column). {fix}; indent with spaces.")


def _over_indented(lines: list[str], line: int) -> str | None:
    """A line indented under a key that already has a value; None when that is not it."""
    here = _Line(line, lines[line - 1])
    above = _above(lines, line)
    if not above or here.indent <= above[0].column or not above[0].has_value:
        return None
    parent = above[0]
    return (f"this line is indented more than the key above it expects: '{parent.key}' on line "
            f"{parent.number} already has a value, so nothing can be nested under it. Line it "
            f"up with '{parent.key}' (column {parent.column + 1}) if it is the next key of the "
            f"same mapping, or remove the value after '{parent.key}:' to nest it there.")


def _explained(exc: yaml.YAMLError, lines: list[str]) -> tuple[int, int, str] | None:
    """Line, column and plain words for the mistakes recognised here, or None."""
    problem = getattr(exc, "problem", None) or ""
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "problem_mark", None)
    opened = getattr(exc, "context_mark", None)
    if mark is None or mark.line >= len(lines):
        return None
    line = mark.line + 1
    indent = _Line(line, lines[line - 1]).indent
    if "'\\t'" in problem:
        return line, mark.column, ("this line is indented with a tab; YAML indents with spaces "
                                   "only. Replace the tab with spaces.")
    if problem.startswith("could not find expected ':'") and opened is not None:
        key_line = opened.line + 1
        return key_line, opened.column, (
            "this line is not `key: value`: it has no ':' after its first word. Add ': ' after "
            "the key, or, if the text continues the value of the line above, put that whole "
            "value in quotes on one line.")
    if problem == "mapping values are not allowed here":
        reason = _over_indented(lines, line)
        if reason is not None:
            return line, indent, reason
        return line, mark.column, (
            "this line has a ': ' inside a value, which YAML reads as a second key. Put the "
            "value in quotes, e.g. `name: \"a: b\"`.")
    if problem.endswith("found '?'") and context == "while parsing a block collection":
        return line, indent, (
            "this line is a key in the column of the list items above it (from line "
            f"{opened.line + 1 if opened else '?'}); one level cannot hold both a list and "
            "keys. Start it with '- ' to make it a list item, or indent it under an item.")
    if problem.startswith("expected <block end>") and context.startswith("while parsing a block"):
        return line, indent, _misaligned(lines, line)
    return None


def yaml_issue(exc: yaml.YAMLError, text: str, file: str) -> RecipeIssue:
    """The issue for unparseable YAML: the line to fix, what is wrong in plain words, what to
    do, and an excerpt of the file with a caret under the problem."""
    lines = text.splitlines()
    known = _explained(exc, lines)
    if known is not None:
        line, column, message = known
        return RecipeIssue("", f"not valid YAML: {message}", file=file, line=line,
                           excerpt=excerpt(lines, line, column))
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None) or ""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = problem_mark
    if context_mark is not None and context.startswith(_OPENED_AT):
        mark = context_mark
        later = problem_mark is not None and problem_mark.line != context_mark.line
        where = f" on line {problem_mark.line + 1}" if later else ""
        text_ = f"{problem}{where}, {context} that starts here"
    else:
        text_ = f"{problem} ({context})" if context else problem
    line = mark.line + 1 if mark else None
    shown = excerpt(lines, line, mark.column) if mark and line and line <= len(lines) else ""
    return RecipeIssue("", f"not valid YAML: {text_}. Check indentation and quoting.",
                       file=file, line=line, excerpt=shown)
