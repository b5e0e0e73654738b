"""The bad-recipe corpus: every file in tests/data/bad_recipes must fail with the errors it names.

Each corpus file starts with comment headers:

    # expect: <dotted.path> line <N> :: <substring of the message>   (one or more; `-` = no path)
    # count: <number of issues>                                      (optional)
    # xfail: <reason>                                                (optional: a known loader bug)

Every issue the loader reports must be one of the expected (path, line) pairs, so each file
shows only its intended errors; the rest of every recipe is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from recsys_kit.errors import RecipeError, RecipeIssue
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe import load_recipe
from recsys_kit.stages import Family, StageRegistry

CORPUS = Path(__file__).parent / "data" / "bad_recipes"
FILES = sorted(CORPUS.glob("*.yaml"))

EXPECT = re.compile(r"^# expect: (?P<path>\S+) line (?P<line>\d+) :: (?P<text>.+?)\s*$")
COUNT = re.compile(r"^# count: (?P<count>\d+)\s*$")
XFAIL = re.compile(r"^# xfail: (?P<reason>.+?)\s*$")
ROOT = "-"


@dataclass(frozen=True)
class Expectation:
    """One issue a corpus file must produce."""

    path: str
    line: int
    text: str

    def matches(self, issue: RecipeIssue) -> bool:
        """Same dotted path and line, and the message contains the expected text."""
        return issue.path == self.path and issue.line == self.line and self.text in issue.message

    def __str__(self) -> str:
        return f"{self.path or ROOT} line {self.line} :: {self.text}"


@dataclass(frozen=True)
class Case:
    """A corpus file and what its headers promise."""

    file: Path
    expectations: tuple[Expectation, ...]
    count: int | None
    xfail: str | None


def header_lines(path: Path) -> list[str]:
    """The leading comment lines of a file (the header block)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return out


def parse_case(path: Path) -> Case:
    """Read a corpus file's headers."""
    expectations: list[Expectation] = []
    count: int | None = None
    xfail: str | None = None
    for line in header_lines(path):
        if m := EXPECT.match(line):
            dotted = "" if m["path"] == ROOT else m["path"]
            expectations.append(Expectation(dotted, int(m["line"]), m["text"]))
        elif m := COUNT.match(line):
            count = int(m["count"])
        elif m := XFAIL.match(line):
            xfail = m["reason"]
    return Case(path, tuple(expectations), count, xfail)


def _params() -> list:
    params = []
    for path in FILES:
        case = parse_case(path)
        marks = [pytest.mark.xfail(reason=case.xfail, strict=True)] if case.xfail else []
        params.append(pytest.param(case, id=path.stem, marks=marks))
    return params


@pytest.fixture(scope="module")
def registry() -> StageRegistry:
    """Every installed stage; the corpus relies on the `synthetic` and `sequences` readers."""
    plugins = make_plugins()
    ingest = plugins.registry.names(Family.INGEST)
    if not {"synthetic", "sequences"} <= set(ingest):
        pytest.skip(f"the bad-recipe corpus needs the built-in `synthetic` and `sequences` "
                    f"ingest stages so that only the intended errors fire; installed: {ingest}")
    return plugins.registry


@pytest.mark.parametrize("case", _params())
def test_bad_recipe_reports_expected_issues(case: Case, registry: StageRegistry) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(case.file, registry)
    error = info.value
    text = str(error)
    found = "\n".join(f"  {issue!r}" for issue in error.issues)

    for expected in case.expectations:
        matching = [issue for issue in error.issues if expected.matches(issue)]
        assert matching, f"{case.file.name}: no issue matches `{expected}`; got:\n{found}"
        issue = matching[0]
        assert issue.file == str(case.file)
        assert f"{case.file}:{expected.line}:" in text
        if expected.path:
            assert f" {expected.path}: " in text
        assert issue.message in text

    unexpected = [
        issue for issue in error.issues
        if not any(issue.path == e.path and issue.line == e.line for e in case.expectations)
    ]
    assert not unexpected, f"{case.file.name}: issues that the headers do not name:\n{found}"
    if case.count is not None:
        assert len(error.issues) == case.count, found
    assert text.startswith(f"The recipe has {len(error.issues)} error")


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 20, f"only {len(FILES)} bad recipes in {CORPUS}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file_headers_are_well_formed(path: Path) -> None:
    headers = header_lines(path)
    assert headers and EXPECT.match(headers[0]), (
        f"{path.name} must start with `# expect: <dotted.path> line <N> :: <text>`"
    )
    for line in headers:
        if line.startswith(("# expect", "# count", "# xfail")):
            assert EXPECT.match(line) or COUNT.match(line) or XFAIL.match(line), (
                f"{path.name}: malformed header {line!r}"
            )
    case = parse_case(path)
    n_lines = max(1, len(path.read_text(encoding="utf-8").splitlines()))
    for expected in case.expectations:
        assert 1 <= expected.line <= n_lines, f"{path.name}: no line {expected.line} in the file"
    if case.count is not None:
        assert case.count >= len({(e.path, e.line) for e in case.expectations})


def test_corpus_has_a_file_with_several_errors() -> None:
    several = [p for p in FILES
               if len({(e.path, e.line) for e in parse_case(p).expectations}) >= 3]
    assert several, "the corpus needs at least one recipe with several errors at once"
