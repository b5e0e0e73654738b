"""Recipes are bounded before anything expands them: size, bytes, characters, nesting, values
and aliases, in the file and in `--set` values. (Small cases live in tests/data/bad_recipes.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from recsys_kit.errors import RecipeError, RecipeIssue
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe import load_recipe
from recsys_kit.recipe.yaml_limits import MAX_BYTES, MAX_VALUES
from recsys_kit.stages import StageRegistry

HEAD = "version: 1\nname: limits\n"
GOOD = HEAD + """data:
  ingest: {plugin: synthetic, params: {n_users: 50}}
model:
  encoders:
    user: {plugin: sasrec, params: {dim: 16}}
evaluate: [{plugin: ranking, params: {k: [10]}}]
"""


@pytest.fixture(scope="module")
def registry() -> StageRegistry:
    """Every installed stage."""
    return make_plugins().registry


def only_issue(path: Path, registry: StageRegistry, overrides: tuple[str, ...] = ()
               ) -> RecipeIssue:
    """The single issue of loading ``path`` (the test fails unless there is exactly one)."""
    with pytest.raises(RecipeError) as info:
        load_recipe(path, registry, overrides)
    assert len(info.value.issues) == 1, info.value
    return info.value.issues[0]


def test_file_over_the_size_limit_is_refused_by_its_size(tmp_path: Path,
                                                         registry: StageRegistry) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "pad: " + "x" * MAX_BYTES + "\n")
    started = time.monotonic()
    issue = only_issue(path, registry)
    assert time.monotonic() - started < 5  # provisional bound: refused without parsing
    assert f"{path.stat().st_size:,} bytes" in issue.message
    assert f"at most {MAX_BYTES:,} bytes" in issue.message


def test_a_device_file_is_not_read_to_its_end(registry: StageRegistry) -> None:
    zero = Path("/dev/zero")
    if not zero.exists():
        pytest.skip("no /dev/zero on this system")
    assert "a recipe may be at most" in only_issue(zero, registry).message


def test_many_values_stop_the_parser_at_the_limit(tmp_path: Path,
                                                  registry: StageRegistry) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(HEAD + "pad:\n" + "".join(f"  - {i}\n" for i in range(MAX_VALUES + 10)))
    issue = only_issue(path, registry)
    assert f"more than {MAX_VALUES:,} values" in issue.message
    assert issue.line is not None and issue.line > MAX_VALUES - 10


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path,
                                                 registry: StageRegistry) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    issue = only_issue(path, registry)
    assert issue.line == 2 and "0xe9 is not UTF-8" in issue.message


def test_aliases_within_bounds_still_work(tmp_path: Path, registry: StageRegistry) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(GOOD.replace("name: limits", "name: limits\nseed: &seed 7").replace(
        "n_users: 50", "n_users: 50, seed: *seed"))
    loaded = load_recipe(path, registry)
    assert loaded.recipe.seed == 7 and loaded.stage("data.ingest").config.seed == 7


@pytest.mark.parametrize("value, text", [
    ("[" + ", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1]", *(f"&{c} [{', '.join([f'*{p}'] * 8)}]"
                      for p, c in zip("abcdefg", "bcdefgh", strict=True))]) + "]",
     "expand the recipe past"),
    ("[" * 40 + "]" * 40, "nest more than 32 deep"),
    ("a\x00b", "U+0000 (NUL)"),
])
def test_set_values_are_bounded_like_the_file(tmp_path: Path, registry: StageRegistry,
                                              value: str, text: str) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    issue = only_issue(path, registry, (f"name={value}",))
    assert issue.file == "--set" and text in issue.message


def test_values_yaml_cannot_build_are_errors_at_their_line(tmp_path: Path,
                                                           registry: StageRegistry) -> None:
    for value, text in (("!!int abc", "cannot be read as int"),
                        ("!!bool maybe", "cannot be read as bool"),
                        ("2001-12-14t21:59:43.10-99:00", "cannot be read as timestamp"),
                        ("1" * 5000, "cannot be read as int")):
        path = tmp_path / "value.yaml"
        path.write_text(f"{HEAD}seed: {value}\n")
        issue = only_issue(path, registry)
        assert issue.line == 3 and text in issue.message, issue
