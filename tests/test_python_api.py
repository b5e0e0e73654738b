"""The notebook API: run_recipe and open_results, and docs/python-api.md executed as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import recsys_kit
from recsys_kit.errors import RecipeError, StoreError
from recsys_kit.store.readonly import SqlRefused
from recsys_kit.testing import tiny

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    """The ```python code blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_docs_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "notebook-demo completed" in printed
    assert "notebook-demo:popularity completed" in printed
    outcomes, results = namespace["outcomes"], namespace["results"]
    assert [o.status for o in outcomes] == ["completed", "completed"]
    runs = results.runs()
    assert list(runs["run_id"]) == [o.run_id for o in outcomes]
    table = namespace["table"]
    assert table["ndcg@10"].tolist() == pytest.approx([o.metrics["ndcg@10"] for o in outcomes])
    recs = namespace["recs"]
    assert recs["rank"].tolist() == [1, 2, 3, 4, 5]
    assert namespace["recs_arrow"].num_rows == namespace["recs_polars"].height == 120 * 5


def test_metrics_match_the_outcomes_and_filters_apply(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    outcomes = recsys_kit.run_recipe(tiny(tmp_path / "runs"), quiet=True)
    results = recsys_kit.open_results(outcomes.results)
    run_id = outcomes[0].run_id
    test = results.metrics(run_id=run_id, split="test")
    assert {f"{m}@{k}": v for m, k, v in zip(test["metric"], test["k"], test["value"],
                                             strict=True)} == pytest.approx(outcomes[0].metrics)
    valid = results.metrics(run_id=run_id, split="valid")
    assert sorted(set(valid["epoch"])) == [1, 2]
    assert results.table("run_plugins", run_id=run_id)["plugin"].tolist()
    with pytest.raises(StoreError, match="has no column nope; its columns are"):
        results.metrics(nope=1)
    with pytest.raises(StoreError, match="no table 'nope'"):
        results.table("nope")


def test_results_are_read_only(tmp_path: Path) -> None:
    outcomes = recsys_kit.run_recipe(tiny(tmp_path / "runs", "train.epochs=1"), quiet=True)
    results = outcomes.open()
    with pytest.raises(SqlRefused):
        results.sql("DELETE FROM runs")
    with pytest.raises(SqlRefused):
        results.sql(f"COPY runs TO '{tmp_path / 'out.csv'}'")
    assert not (tmp_path / "out.csv").exists()
    assert len(results.sql("SELECT * FROM runs", format="arrow")) == 1


def test_bad_recipe_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"train\.epochs"):
        recsys_kit.run_recipe(tiny(tmp_path / "runs"), overrides=["train.epochs=-1"])
    assert not (tmp_path / "runs" / "results.duckdb").exists()
    with pytest.raises(StoreError, match="No results file"):
        recsys_kit.open_results(tmp_path / "nowhere")


def test_failed_run_raises_after_it_is_recorded(tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "data.ingest.plugin=files",
                  "data.ingest.params={interactions: {path: missing.csv}}")  # read at run time
    with pytest.raises(recsys_kit.errors.RecsysKitError):
        recsys_kit.run_recipe(recipe, quiet=True)
    status = recsys_kit.open_results(tmp_path / "runs").sql("SELECT status FROM runs",
                                                             format="arrow")
    assert status.column("status").to_pylist() == ["failed"]


def test_import_recsys_kit_stays_cheap() -> None:
    probe = ("import sys, recsys_kit; recsys_kit.open_results; "
             "print(sorted(m for m in ('torch', 'pandas', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
