"""Bounds on recipe text, checked before anything expands it: size, characters, nesting,
values, and YAML aliases (an alias repeats a whole subtree, so a few hundred bytes of
aliases to aliases can stand for billions of values)."""

from __future__ import annotations

import re
import unicodedata

import yaml

from recsys_kit.errors import RecipeIssue

#: Largest recipe file read, in bytes (real recipes are a few kilobytes).
MAX_BYTES = 1_000_000
#: Deepest nesting of mappings and lists, aliases expanded.
MAX_DEPTH = 32
#: Most values (keys, scalars, mappings, lists) in a recipe, aliases expanded.
MAX_VALUES = 20_000

#: Characters YAML does not allow in a document: control characters but tab, LF and CR.
_NOT_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def size_issue(size: int, file: str) -> RecipeIssue | None:
    """An issue for a file larger than :data:`MAX_BYTES`."""
    if size <= MAX_BYTES:
        return None
    return RecipeIssue("", f"the file is {size:,} bytes; a recipe may be at most {MAX_BYTES:,} "
                       "bytes. Is this the recipe (YAML text) you meant to give?", file=file)


def decode_issue(data: bytes, exc: UnicodeDecodeError, file: str) -> RecipeIssue:
    """An issue at the line of the first byte that is not UTF-8."""
    line = data[:exc.start].count(b"\n") + 1
    return RecipeIssue("", f"byte 0x{data[exc.start]:02x} is not UTF-8 text ({exc.reason}). "
                       "Save the recipe as UTF-8.", file=file, line=line)


def character_issue(text: str, file: str) -> RecipeIssue | None:
    """An issue at the first character YAML does not allow (NUL and other controls)."""
    found = _NOT_TEXT.search(text)
    if found is None:
        return None
    char = found.group()
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    name = unicodedata.name(char, "") or ("NUL" if char == "\x00" else "a control character")
    why = " (a NUL byte often means a binary or damaged file)" if char == "\x00" else ""
    return RecipeIssue("", f"column {column} holds U+{ord(char):04X} ({name}), which YAML does "
                       f"not allow in text. Remove it{why}.", file=file, line=line)


class LimitExceeded(yaml.YAMLError):
    """The document passes a bound; ``line`` is where (1-based)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stopped as soon as the document nests deeper than
    :data:`MAX_DEPTH` or holds more than :data:`MAX_VALUES` values as written (before
    aliases are expanded: see :func:`check_expansion`); a value its constructor cannot
    build (``2001-13-45``, ``!!int abc``) is a YAML error at that value's line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        """Compose one node, counting it and its depth."""
        line = self.peek_event().start_mark.line + 1
        self._values += 1
        if self._values > MAX_VALUES:
            raise LimitExceeded(f"the recipe holds more than {MAX_VALUES:,} values; a recipe "
                                "that large is not a recipe (is this a data file?)", line)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitExceeded(f"mappings and lists nest more than {MAX_DEPTH} deep here",
                                    line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        """Build one value; PyYAML's own constructors raise plain ValueError, KeyError, ...
        for values such as ``2001-13-45`` or ``!!bool maybe``: those become YAML errors."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            shown = f" {node.value[:80]!r}" if isinstance(node, yaml.ScalarNode) else ""
            tag = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"the value{shown} cannot be read as {tag} ({exc})",
                node.start_mark) from None


def check_expansion(root: yaml.Node) -> None:
    """Raise :class:`LimitExceeded` when aliases expand the document past the bounds, or
    refer to a node that contains them (a loop)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), aliases expanded
    open_nodes: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if key in open_nodes:
            raise LimitExceeded("an alias refers to a mapping or list that contains it (a "
                                "loop); YAML aliases must not repeat their own anchor", line)
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        values, depth = 1, 0
        for child in children:
            child_values, child_depth = measure(child)
            values += child_values
            depth = max(depth, child_depth)
        open_nodes.discard(key)
        if values > MAX_VALUES:
            raise LimitExceeded(f"aliases (*name) expand the recipe past {MAX_VALUES:,} values "
                                "here; repeat less, or write the values out", line)
        if depth + 1 > MAX_DEPTH:
            raise LimitExceeded(f"aliases (*name) nest mappings and lists more than {MAX_DEPTH} "
                                "deep here", line)
        sizes[key] = (values, depth + 1)
        return sizes[key]

    measure(root)
