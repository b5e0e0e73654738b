"""YAML reading that remembers the line of every key, and `--set` overrides."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from recsys_kit.errors import RecipeError, RecipeIssue
from recsys_kit.recipe.yaml_errors import yaml_issue
from recsys_kit.recipe.yaml_limits import (
    MAX_BYTES,
    BoundedLoader,
    LimitExceeded,
    character_issue,
    check_expansion,
    decode_issue,
    size_issue,
)

Loc = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def line_map(root: yaml.Node | None) -> tuple[dict[Loc, int], list[RecipeIssue]]:
    """Map every key path of a composed YAML document to its 1-based line.

    Also returns one issue (path and line, no file) per duplicate key: YAML loaders keep only
    the last of two equal keys, so the first would otherwise be dropped without a word.
    """
    lines: dict[Loc, int] = {}
    duplicates: list[RecipeIssue] = []

    def walk(node: yaml.Node, loc: Loc) -> None:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                name, line = str(key.value), key.start_mark.line + 1
                child = (*loc, name)
                if name in first:
                    duplicates.append(RecipeIssue(
                        _dotted(child),
                        f"duplicate key '{name}' (first at line {first[name]}); YAML keeps only "
                        "the last one. Merge the two into one.",
                        line=line,
                    ))
                first.setdefault(name, line)
                lines[child] = line
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, (*loc, i))

    if root is not None:
        walk(root, ())
    return lines, duplicates


def expand_env(value: Any) -> Any:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a loaded document.

    As in POSIX shells, `${VAR:-default}` gives the default when VAR is unset *or empty*;
    `${VAR}` of an unset variable is the empty string.
    """
    if isinstance(value, str):
        return _ENV.sub(_env_value, value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def _env_value(match: re.Match[str]) -> str:
    name, default = match.group(1), match.group(2)
    if default is None:
        return os.environ.get(name, "")
    return os.environ.get(name) or default


def _read_text(path: Path) -> str:
    """The file's text, read no further than the size bound; clear errors otherwise."""
    file = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
            size = max(len(data), path.stat().st_size)
    except FileNotFoundError:
        raise RecipeError(
            [RecipeIssue("", "file not found; check the path (relative to the current directory).",
                         file=file)]
        ) from None
    except OSError as exc:
        raise RecipeError([RecipeIssue("", f"cannot read the file: {exc}", file=file)]) from None
    too_big = size_issue(size, file)
    if too_big:
        raise RecipeError([too_big])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError([decode_issue(data, exc, file)]) from None
    bad_character = character_issue(text, file)
    if bad_character:
        raise RecipeError([bad_character])
    return text


def load_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document within the bounds of :mod:`recipe.yaml_limits`: its value
    and its node tree. Aliases are checked before anything expands them."""
    loader = BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            check_expansion(root)
        data = loader.construct_document(root) if root is not None else None
    except LimitExceeded as exc:
        raise RecipeError([RecipeIssue("", f"{exc.message}.", file=file, line=exc.line)]) from None
    except yaml.YAMLError as exc:
        raise RecipeError([yaml_issue(exc, text, file)]) from None
    finally:
        loader.dispose()
    return data, root


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    """Read a recipe file: its mapping and its line map; clear errors for unreadable files,
    and for files past the bounds (size, characters, nesting, values, aliases)."""
    data, root = load_yaml(_read_text(path), str(path))
    lines, duplicates = line_map(root)
    if duplicates:
        for issue in duplicates:
            issue.file = str(path)
        raise RecipeError(duplicates)
    if not isinstance(data, dict):
        raise RecipeError(
            [RecipeIssue("", "a recipe is a YAML mapping (`version: 1`, `name: ...`, `data: ...`).",
                         file=str(path), line=1)]
        )
    return expand_env(data), lines


def dotted_parts(path: str) -> list[str | int]:
    """The keys of a dotted path (``evaluate.0.params.k``): ASCII digits are list indices,
    everything else a key (``str.isdigit`` also accepts characters such as ``²``)."""
    return [int(p) if p.isascii() and p.isdigit() else p for p in path.split(".")]


def _override_error(path: str, message: str) -> RecipeError:
    return RecipeError([RecipeIssue(path, message, file="--set")])


def apply_override(data: dict[str, Any], assignment: str) -> Loc:
    """Apply one `--set a.b.0.c=value` (value parsed as YAML) to ``data``; return its path."""
    dotted, sep, raw = assignment.partition("=")
    dotted = dotted.strip()
    if not sep or not dotted or "" in dotted.split("."):
        raise _override_error("", f"'{assignment}' needs the form path.to.key=value "
                                  "(for example --set train.lr=3e-4).")
    parts = dotted_parts(dotted)
    problem = character_issue(raw, "--set")
    if problem is not None:
        raise _override_error(dotted, f"the value {raw[:80]!r}: {problem.message}")
    try:
        value = load_yaml(raw, "--set")[0] if raw.strip() else ""
    except RecipeError as exc:
        detail = exc.issues[0].message
        if detail.startswith("not valid YAML: "):
            detail = detail.removesuffix(" Check indentation and quoting.")
            raise _override_error(dotted, f"the value {raw[:80]!r} is {detail} Put it in quotes "
                                          "to give it as text.") from None
        raise _override_error(dotted, f"the value {raw[:80]!r}: {detail}") from None
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise _override_error(dotted, f"index {part} is past the end of a list of "
                                              f"{len(node)}.")
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            raise _override_error(dotted, "this path goes through a value that is not a "
                                          "mapping or list.")
    last = parts[-1]
    if (isinstance(node, list) and isinstance(last, int) and last < len(node)) or isinstance(
        node, dict
    ):
        node[last] = value
    else:
        raise _override_error(dotted, "cannot assign here: the path goes through a value that "
                                      "is not a mapping, or past the end of a list.")
    return tuple(parts)
