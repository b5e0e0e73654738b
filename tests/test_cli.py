"""The `recsys-kit` command, run as a user runs it: `python -m recsys_kit ...` in a subprocess.

The last section calls `cli.main` in this process instead, to give commands a plugin set of the
test's choosing (a clash, a broken plugin) or to stand in for the TUI.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

import recsys_kit.cli as cli_module
import recsys_kit.plugins as plugins_module
import recsys_kit.tui as tui_module
from recsys_kit import hookimpl
from recsys_kit.plugins import make_plugins
from recsys_kit.stages import Family, NoParams, StageSpec
from recsys_kit.testing import tiny

BAD_RECIPES = Path(__file__).parent / "data" / "bad_recipes"
BAD = BAD_RECIPES / "unknown_stage_param.yaml"  # haeds at line 13
SET_OK = ("--set", "name=renamed", "-s", "train.lr=3e-4")
SET_BAD = ("--set", "train.epochs=0")
MARKUP_NAME = "a[/]b[bold]c.yaml"  # a missing file whose name looks like Rich markup

GOOD = """\
version: 1
name: good
device: cpu
data:
  ingest: {plugin: synthetic, params: {n_users: 50}}
model:
  encoders:
    user: {plugin: sasrec, params: {layers: 1, heads: 1, dim: 16}}
train: {epochs: 2}
evaluate: [{plugin: ranking, params: {k: [10]}}]
"""


@dataclass(frozen=True)
class Result:
    """What one command printed and returned."""

    code: int
    out: str
    err: str

    @property
    def err_text(self) -> str:
        """stderr with line wrapping undone (Rich wraps long messages)."""
        return " ".join(self.err.split())


Key = tuple[tuple[str, ...], str | None]


class Cli:
    """Runs `python -m recsys_kit ...` in a subprocess, with a wide, colourless terminal.

    Every command that loads the plugins imports torch (seconds each), so the module starts
    the independent ones at once in the background (`start`); calling the runner with the
    same arguments collects that process instead of starting another.
    """

    def __init__(self) -> None:
        self.started: dict[Key, subprocess.Popen[str]] = {}

    @staticmethod
    def _popen(args: tuple[str, ...], cwd: str | None) -> subprocess.Popen[str]:
        env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb",
               "OMP_NUM_THREADS": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "recsys_kit", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def start(self, *args: str, cwd: Path | None = None) -> None:
        """Start a command now; its result is collected by a later call with the same args."""
        key = (args, str(cwd) if cwd else None)
        if key not in self.started:
            self.started[key] = self._popen(args, key[1])

    def __call__(self, *args: str, cwd: Path | None = None, timeout: float = 180) -> Result:
        key = (args, str(cwd) if cwd else None)
        proc = self.started.pop(key, None) or self._popen(args, key[1])
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        return Result(proc.returncode, out, err)

    def close(self) -> None:
        """Stop whatever no test collected."""
        for proc in self.started.values():
            proc.kill()
            proc.communicate()
        self.started.clear()


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.err, result.err
    assert "Traceback" not in result.out, result.out


@pytest.fixture(scope="module")
def has_synthetic() -> bool:
    return "synthetic" in make_plugins().registry.names(Family.INGEST)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the good recipe and the tiny recipe."""
    root = tmp_path_factory.mktemp("cli")
    (root / "good.yaml").write_text(GOOD, encoding="utf-8")
    (root / "tiny.yaml").write_text(yaml.safe_dump(tiny(root / "runs")), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cli(workdir: Path, has_synthetic: bool) -> Iterator[Cli]:
    """The runner, with the slow, independent commands of this module already started."""
    runner = Cli()
    good = str(workdir / "good.yaml")
    runner.start("validate", str(BAD))
    runner.start("--debug", "validate", str(BAD))
    runner.start("plugins", "--format", "table")
    runner.start("schema")
    runner.start("validate", str(workdir / MARKUP_NAME))
    if has_synthetic:
        runner.start("run", str(workdir / "tiny.yaml"), cwd=workdir)
        runner.start("validate", good)
        runner.start("validate", good, *SET_OK)
        runner.start("validate", good, *SET_BAD)
    yield runner
    runner.close()


@pytest.fixture
def good(workdir: Path, has_synthetic: bool) -> Path:
    if not has_synthetic:
        pytest.skip("the `synthetic` ingest stage is not installed (recsys_kit.builtin.ingest)")
    return workdir / "good.yaml"


# -- validate ----------------------------------------------------------------------------------


def test_validate_good_recipe(cli: Cli, good: Path) -> None:
    result = cli("validate", str(good))
    assert result.code == 0, result.err
    assert "is valid" in result.out
    assert "'good'" in result.out


def test_validate_bad_recipe_exits_2_with_file_line_and_path(cli: Cli) -> None:
    result = cli("validate", str(BAD))
    assert result.code == 2
    assert_no_traceback(result)
    assert f"{BAD}:13:" in result.err_text
    assert "model.encoders.user.params.haeds" in result.err_text
    assert "Did you mean 'heads'?" in result.err_text
    assert "error" in result.err_text
    assert result.out == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(cli: Cli, where: str) -> None:
    # --debug is recsys-kit's own option; after the command (`run --debug R`) it was refused
    result = cli(*(("--debug", "validate", str(BAD)) if where == "before" else
                   ("validate", str(BAD), "--debug")))
    assert result.code != 0
    assert "Traceback" in result.err
    assert "RecipeError" in result.err


def test_validate_set_overrides_the_recipe(cli: Cli, good: Path) -> None:
    result = cli("validate", str(good), *SET_OK)
    assert result.code == 0, result.err
    assert "'renamed'" in result.out


def test_validate_warns_of_options_the_chosen_loss_ignores(cli: Cli, workdir: Path) -> None:
    result = cli("validate", str(workdir / "tiny.yaml"), "--set", "model.scorer.params.loss=sce",
                 "--set", "model.scorer.params.in_batch=0")
    assert result.code == 0, result.err
    assert "warning: model.scorer.params.in_batch is set but not used: it applies to loss " \
           "sampled_softmax, not sce." in result.err_text
    assert "is valid" in result.out


def test_validate_bad_set_is_attributed_to_set(cli: Cli, good: Path) -> None:
    result = cli("validate", str(good), *SET_BAD)
    assert result.code == 2
    assert_no_traceback(result)
    assert "--set: train.epochs: " in result.err_text
    assert "greater than or equal to 1" in result.err_text


def test_error_text_is_not_rich_markup(cli: Cli, workdir: Path) -> None:
    missing = workdir / MARKUP_NAME
    result = cli("validate", str(missing))
    assert_no_traceback(result)
    assert result.code == 2
    assert str(missing) in result.err_text


# -- plugins and schema ------------------------------------------------------------------------


#: Stages of the large-model path (text, fusion, ratings, cold start), by family.
NEW_STAGES = {
    "hf_text": "tokenize", "text_embedding": "item_encoder", "categorical": "item_encoder",
    "bert4rec": "user_encoder", "global_mean": "user_encoder", "item_mean": "user_encoder",
    "target_attention": "fusion", "mlp": "scorer", "rating": "evaluator",
    "cold_items": "split",
}


def test_plugins_lists_builtin_stages_with_distribution(cli: Cli) -> None:
    result = cli("plugins", "--format", "table")
    assert result.code == 0, result.err
    rows: dict[str, list[str]] = {}
    for line in result.out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 6 and cells[2]:
            rows[cells[2]] = cells[1:-1]
    expected = {"sasrec": "user_encoder", "popularity": "user_encoder",
                "ranking": "evaluator", "leave_one_out": "split", **NEW_STAGES}
    for name, family in expected.items():
        assert name in rows, f"{name} missing from:\n{result.out}"
        assert rows[name][0] == family
        assert rows[name][2] == "recsys-kit"
        assert rows[name][3], f"{name} has no version"


def test_schema_prints_json(cli: Cli) -> None:
    result = cli("schema")
    assert result.code == 0, result.err
    schema = json.loads(result.out)
    assert "sasrec" in result.out
    for name in NEW_STAGES:
        assert f'"{name}"' in result.out, f"{name} missing from the JSON Schema"
    assert {"version", "name", "data", "model"} <= set(schema["required"])
    assert "$defs" in schema


# -- sql ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["sql", "SELECT * FROM runs"]])
def test_without_results_file_is_one_clear_paragraph(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nowhere" / "results.duckdb"
    result = cli(*command, "--results", str(missing))
    assert result.code == 1
    assert_no_traceback(result)
    assert result.out == ""
    assert "No results file at" in result.err_text
    assert str(missing) in result.err_text
    assert "--results" in result.err_text
    assert "\n\n" not in result.err.strip()


@pytest.mark.parametrize("command", [["sql", "SELECT 1"]])
def test_default_results_path_is_relative_to_cwd(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    result = cli(*command, cwd=tmp_path)
    assert result.code == 1
    assert_no_traceback(result)
    assert "runs/results.duckdb" in result.err_text


@pytest.fixture(scope="module")
def results(cli: Cli, workdir: Path, has_synthetic: bool) -> Path:
    """The tiny recipe, run once through the CLI (started with the module); its results file."""
    if not has_synthetic:
        pytest.skip("the `synthetic` ingest stage is not installed, so the tiny recipe cannot run")
    result = cli("run", str(workdir / "tiny.yaml"), cwd=workdir)
    assert result.code == 0, f"run failed:\n{result.out}\n{result.err}"
    assert "completed" in result.out
    path = workdir / "runs" / "results.duckdb"
    assert path.is_file()
    return path


def test_sql_table(cli: Cli, results: Path) -> None:
    result = cli("sql", "SELECT name, status FROM runs", "--results", str(results))
    assert result.code == 0, result.err
    assert "tiny" in result.out and "completed" in result.out


def test_sql_csv(cli: Cli, results: Path) -> None:
    result = cli("sql", "SELECT name, status FROM runs", "--results", str(results),
                 "--format", "csv")
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows == [["name", "status"], ["tiny", "completed"]]


def test_sql_json(cli: Cli, results: Path) -> None:
    query = ("SELECT metric, k, value FROM metrics WHERE split = 'test' "
             "ORDER BY metric, k")
    result = cli("sql", query, "--results", str(results), "-f", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    keys = {(r["metric"], r["k"]) for r in rows}
    assert {("ndcg", 5), ("ndcg", 10), ("hr", 5), ("hr", 10)} <= keys
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)


def test_sql_json_is_valid_json_with_nan_and_infinity(cli: Cli, results: Path) -> None:
    query = "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, 1.5 AS c"
    result = cli("sql", query, "--results", str(results), "-f", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out, parse_constant=lambda name: pytest.fail(name)) == [
        {"a": None, "b": None, "c": 1.5}]


def test_sql_unknown_format(cli: Cli, results: Path) -> None:
    result = cli("sql", "SELECT 1", "--results", str(results), "--format", "xml")
    assert result.code != 0
    assert_no_traceback(result)
    assert "table, csv or json" in result.err_text


def test_sql_bad_query_is_a_clear_error(cli: Cli, results: Path) -> None:
    result = cli("sql", "SELECT * FROM no_such_table", "--results", str(results))
    assert result.code != 0
    assert_no_traceback(result)
    assert "The query failed" in result.err_text
    assert "no_such_table" in result.err_text


def _counts(results: Path) -> tuple[int, int]:
    with duckdb.connect(str(results), read_only=True) as con:
        runs = con.execute("SELECT count(*) FROM runs").fetchone()
        metrics = con.execute("SELECT count(*) FROM metrics").fetchone()
    assert runs is not None and metrics is not None
    return int(runs[0]), int(metrics[0])


@pytest.mark.parametrize("statement", ["DELETE FROM runs", "DROP TABLE metrics"])
def test_sql_refuses_writes(cli: Cli, results: Path, statement: str) -> None:
    before = _counts(results)
    assert before[0] == 1 and before[1] > 0
    result = cli("sql", statement, "--results", str(results))
    assert result.code != 0
    assert_no_traceback(result)
    assert "read-only" in result.err_text
    assert _counts(results) == before


def test_sql_table_cells_are_not_rich_markup(cli: Cli, results: Path) -> None:
    result = cli("sql", "SELECT '[bold]x[/]' AS \"[red]v\"", "--results", str(results))
    assert result.code == 0, result.err
    assert "[bold]x[/]" in result.out
    assert "[red]v" in result.out


# -- in-process: the command with a plugin set of the test's choosing --------------------------


def call_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
              *args: str) -> Result:
    """Run `recsys-kit ARGS` in this process (`cli.main`, as the console script does)."""
    monkeypatch.setattr(sys, "argv", ["recsys-kit", *args])
    with pytest.raises(SystemExit) as info:
        cli_module.main()
    captured = capsys.readouterr()
    code = info.value.code
    return Result(code if isinstance(code, int) else 1, captured.out, captured.err)


def use_plugins(monkeypatch: pytest.MonkeyPatch, *extra: object) -> None:
    """Make every command load the installed plugins plus ``extra``."""
    real = plugins_module.make_plugins
    monkeypatch.setattr(plugins_module, "make_plugins", lambda: real(extra=list(extra)))


class ClashingSasrec:
    """A second `sasrec` user encoder."""

    __name__ = "clashing_sasrec"

    @hookimpl
    def register_stages(self) -> list[StageSpec]:
        return [StageSpec(Family.USER_ENCODER, "sasrec", NoParams, lambda config, shape: None)]


class BrokenRegistration:
    """A plugin whose registration fails with text that looks like Rich markup."""

    __name__ = "broken_registration"

    @hookimpl
    def register_stages(self) -> list[StageSpec]:
        raise ValueError("bad [/] value [bold]here")


def test_tui_opens_the_results_file(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    results = tmp_path / "results.duckdb"
    results.touch()
    opened: list[Path] = []
    monkeypatch.setattr(tui_module, "run_tui", opened.append)
    result = call_main(monkeypatch, capsys, "tui", "--results", str(results))
    assert result.code == 0, result.err
    assert opened == [results]


def test_plugins_lists_stages_and_shows_a_clash(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    use_plugins(monkeypatch, ClashingSasrec())
    result = call_main(monkeypatch, capsys, "plugins")
    assert result.code == 0, result.err
    assert "popularity" in result.out and "sasrec" in result.out
    out = " ".join(result.out.split())
    assert "clash Two plugins register the user_encoder stage 'sasrec': recsys-kit and <local>" \
        in out


@pytest.mark.parametrize("command", [("validate", str(BAD)), ("run", str(BAD)), ("schema",)])
def test_commands_that_use_stages_stop_on_a_clash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    use_plugins(monkeypatch, ClashingSasrec())
    result = call_main(monkeypatch, capsys, *command)
    assert result.code == 1
    assert result.out == ""
    assert_no_traceback(result)
    assert result.err_text.startswith("error: Two plugins register the user_encoder stage "
                                      "'sasrec': recsys-kit and <local>.")
    assert "Uninstall one of them" in result.err_text
    assert "\n\n" not in result.err.strip()


def test_plugin_failure_is_a_warning_and_not_markup(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    use_plugins(monkeypatch, BrokenRegistration())
    result = call_main(monkeypatch, capsys, "plugins")
    assert result.code == 0, result.err
    assert "warning: plugin 'broken_registration' from <local> failed to load " \
           "(ValueError: bad [/] value [bold]here)" in result.err_text
    assert "failed broken_registration (<local>): ValueError: bad [/] value [bold]here" \
        in " ".join(result.out.split())
