"""YAML reading that remembers the line of every key, and `--set` overrides."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from recsys_kit.errors import RecipeError, RecipeIssue

Loc = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def line_map(text: str) -> dict[Loc, int]:
    """Map every key path in a YAML document to its 1-based line."""
    lines: dict[Loc, int] = {}

    def walk(node: yaml.Node, loc: Loc) -> None:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*loc, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*loc, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def expand_env(value: Any) -> Any:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a loaded document."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    """Read a recipe file: its mapping and its line map; clear errors for unreadable files."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(
            [RecipeIssue("", "file not found; check the path (relative to the current directory).",
                         file=str(path))]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([RecipeIssue("", f"cannot read the file: {exc}", file=str(path))]) from None
    try:
        data = yaml.safe_load(text)
        lines = line_map(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(
            [RecipeIssue("", f"not valid YAML: {problem}. Check indentation and quoting.",
                         file=str(path), line=line)]
        ) from None
    if not isinstance(data, dict):
        raise RecipeError(
            [RecipeIssue("", "a recipe is a YAML mapping (`version: 1`, `name: ...`, `data: ...`).",
                         file=str(path), line=1)]
        )
    return expand_env(data), lines


def apply_override(data: dict[str, Any], assignment: str) -> Loc:
    """Apply one `--set a.b.0.c=value` (value parsed as YAML) to ``data``; return its path."""
    if "=" not in assignment:
        raise RecipeError(
            [RecipeIssue("", f"--set '{assignment}' needs the form path.to.key=value "
                             "(for example --set train.lr=3e-4).", file="--set")]
        )
    dotted, raw = assignment.split("=", 1)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in dotted.strip().split(".")]
    value = yaml.safe_load(raw) if raw.strip() else ""
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise RecipeError([RecipeIssue(dotted, f"--set: index {part} is past the end of "
                                                       f"a list of {len(node)}.", file="--set")])
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            raise RecipeError([RecipeIssue(dotted, "--set: this path goes through a value that "
                                                   "is not a mapping or list.", file="--set")])
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError([RecipeIssue(dotted, "--set: cannot assign here.", file="--set")])
    return tuple(parts)
