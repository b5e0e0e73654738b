"""docs/serving.md's Python example runs as written; `recsys-kit recommend` as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_kit.cli import main
from tests.serving.conftest import Trained

DOCS = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recsys_kit", *args], capture_output=True,
                          text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"})


def test_the_python_example_in_the_docs_runs(sasrec_run: Trained,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert blocks
    monkeypatch.chdir(sasrec_run.results.parent.parent)  # where runs/results.duckdb is
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[:5]] == ["1", "2", "3", "4", "5"]


def test_recommend_prints_a_table_or_json(sasrec_run: Trained) -> None:
    results = str(sasrec_run.results)
    table = cli("recommend", "latest", "--user", "1", "--k", "3", "--results", results)
    assert table.returncode == 0, table.stderr
    assert "top 3 for user 1" in table.stdout and "rank" in table.stdout
    done = cli("recommend", sasrec_run.run_id, "--history", "1,2,3", "--k", "2", "--format",
               "json", "--results", results)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["user_id"] is None and [r["rank"] for r in body["items"]] == [1, 2]


@pytest.mark.parametrize(("args", "says"), [
    (("--user", "nobody"), "does not know user 'nobody'"),
    (("--history", "1,zzz"), "'zzz'"),
    ((), "Say who to recommend for"),
    (("--user", "1", "--k", "0"), "k must be a whole number from 1 to 60"),
    (("--user", "1", "--format", "xml"), "Unknown --format 'xml'"),
])
def test_recommend_errors_are_one_paragraph(sasrec_run: Trained, args: tuple[str, ...],
                                            says: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (the command's own code path, minus the interpreter start)."""
    monkeypatch.setattr(sys, "argv", ["recsys-kit", "recommend", "latest", *args,
                                      "--results", str(sasrec_run.results)])
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 1
    assert says in " ".join(err.split()) and "Traceback" not in err


def test_import_recsys_kit_stays_cheap_until_load_run_is_used() -> None:
    probe = ("import sys, recsys_kit; print('torch' in sys.modules); recsys_kit.load_run; "
             "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.split() == ["False", "True"]
