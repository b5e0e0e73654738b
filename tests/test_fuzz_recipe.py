"""Property-based fuzzing of the recipe loader: whatever the bytes, text, YAML or `--set`
values, `load_recipe` either returns a recipe or raises a `RecsysKitError` (a clear message),
never anything else (which the CLI would print as an "unexpected error").

Bounded by the Hypothesis profile in conftest.py (`HYPOTHESIS_PROFILE=fuzz` explores more).
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from recsys_kit.errors import RecsysKitError
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]
RECIPES = [p.read_text(encoding="utf-8") for p in sorted((REPO / "recipes").glob("*.yaml"))]
REGISTRY = make_plugins().registry
SCRATCH = Path(tempfile.mkdtemp(prefix="recsys-kit-fuzz-"))

#: Pieces of YAML syntax, so that generated text reaches the parser's corners.
YAML_BITS = ["{", "}", "[", "]", ": ", ", ", "- ", "? ", "&a ", "*a", "&b ", "*b", "<<: ", "!!int ",
             "!!float ", "!!bool ", "!!timestamp ", "!!str ", "!!binary ", "!!set ", "!!omap ",
             "!!python/object ", "\n", "\n  ", "\t", "'", '"', "#", "|\n", ">\n", "---\n",
             "...\n", "%YAML 1.1\n", ".nan", ".inf", "-.inf", "~", "null", "true", "0x1F", "0o7",
             "1_000", "1e999", "2024-13-01", "12:30:00", "${HOME}", "${X:-}", "version: 1\n",
             "name: x\n", "data:\n", "model:\n", "  ingest: {plugin: synthetic}\n", "\x00",
             "\x1b", "\ufeff", "é", "\U0001f600", "\u2028"]

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(), TEXT, st.sampled_from(["", "nan", "inf", "0", "-1", "1e9", "auto", "cpu",
                                        "ranking", "sasrec", "synthetic", "ndcg@10"]),
    st.dates(), st.datetimes(timezones=st.just(datetime.timezone.utc)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(TEXT, st.integers()), inner,
                                                 max_size=4)), max_leaves=12)


def load(data: bytes, overrides: Sequence[str] = ()) -> None:
    """Load ``data`` as a recipe file; any error but a RecsysKitError fails the test."""
    path = SCRATCH / "recipe.yaml"
    path.write_bytes(data)
    with contextlib.suppress(RecsysKitError):
        load_recipe(path, REGISTRY, list(overrides))


@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    load(data)


@given(st.lists(st.one_of(st.sampled_from(YAML_BITS), TEXT), max_size=60))
def test_yaml_like_text(pieces: list[str]) -> None:
    load("".join(pieces).encode("utf-8", "surrogatepass"))


@given(st.sampled_from(RECIPES), st.lists(st.tuples(
    st.integers(min_value=0, max_value=4000), st.integers(min_value=0, max_value=40),
    st.one_of(st.sampled_from(YAML_BITS), TEXT)), min_size=1, max_size=6))
def test_mutated_real_recipe_text(recipe: str, edits: list[tuple[int, int, str]]) -> None:
    text = recipe
    for at, cut, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut:]
    load(text.encode("utf-8", "surrogatepass"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a loaded recipe."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@given(st.sampled_from(RECIPES), st.data())
def test_real_recipe_with_values_replaced(recipe: str, data: st.DataObject) -> None:
    tree = yaml.safe_load(recipe)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(tree)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        _replace(tree, path, data.draw(VALUES), delete=data.draw(st.booleans()))
    load(yaml.safe_dump(tree, allow_unicode=True).encode("utf-8", "surrogatepass"))


@given(st.sampled_from(RECIPES), st.data())
def test_real_recipe_with_set_overrides(recipe: str, data: st.DataObject) -> None:
    paths = [".".join(map(str, p)) for p in _paths(yaml.safe_load(recipe))]
    path = st.one_of(st.sampled_from(paths), TEXT, st.sampled_from(["", ".", "a..b", "0", "x.0"]))
    value = st.one_of(st.lists(st.sampled_from(YAML_BITS), max_size=10).map("".join), TEXT)
    overrides = data.draw(st.lists(st.builds(lambda p, v, eq: f"{p}{eq}{v}", path, value,
                                             st.sampled_from(["=", "", "=="])), max_size=3))
    load(recipe.encode("utf-8"), overrides)
