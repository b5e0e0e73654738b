"""End to end: recipes run through the runner, then the result tables are checked with SQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from recsys_kit import hookspecs
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.pipeline import Runner
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny


def test_tiny_recipe_fills_every_table(run_recipe, tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "baselines=[{plugin: popularity}]")
    outcomes, store = run_recipe(recipe)
    assert [o.status for o in outcomes] == ["completed", "completed"]
    _, runs = store.query("SELECT name, status, parent_run_id IS NOT NULL, best_epoch FROM runs "
                          "ORDER BY started_at")
    assert runs[0][:3] == ("tiny", "completed", False) and runs[0][3] >= 1
    assert runs[1][:3] == ("tiny:popularity", "completed", True)
    main = outcomes[0].run_id
    _, recs = store.query("SELECT count(DISTINCT user_id), max(rank) FROM recommendations "
                          "WHERE run_id = ?", [main])
    assert recs == [(120, 5)]
    _, per_user = store.query("SELECT count(*) FROM (SELECT user_id, count(*) c, "
                              "count(DISTINCT item_id) d FROM recommendations WHERE run_id = ? "
                              "GROUP BY user_id) WHERE c <> d", [main])
    assert per_user == [(0,)]
    _, metrics = store.query("SELECT split, count(*) FROM metrics WHERE run_id = ? GROUP BY split "
                             "ORDER BY split", [main])
    epochs = runs[0][3]
    assert dict(metrics)["test"] == 10  # 5 metrics x 2 cut-offs
    assert dict(metrics)["train"] >= epochs
    _, recipe_row = store.query("SELECT recipe->>'$.train.epochs', recipe->>'$.seed' FROM runs "
                                "WHERE run_id = ?", [main])
    assert recipe_row == [("2", "7")]
    _, plugins = store.query("SELECT family, plugin, distribution FROM run_plugins "
                             "WHERE run_id = ? AND family = 'user_encoder'", [main])
    assert plugins == [("user_encoder", "sasrec", "recsys-kit")]
    _, baseline_plugins = store.query("SELECT family FROM run_plugins WHERE run_id = ? "
                                      "ORDER BY family", [outcomes[1].run_id])
    model_families = [f for (f,) in baseline_plugins if f in ("item_encoder", "fusion", "scorer",
                                                              "user_encoder")]
    assert model_families == ["user_encoder"]  # popularity uses no other model stage
    _, artifacts = store.query("SELECT name, bytes > 0 FROM artifacts WHERE run_id = ? "
                               "ORDER BY name", [main])
    assert artifacts == [("best", True), ("per_user_test_metrics", True), ("run_json", True),
                         ("serving_data", True)]
    _, paths = store.query("SELECT path FROM artifacts WHERE run_id = ? "
                           "AND name = 'per_user_test_metrics'", [main])
    _, parquet = store.query("SELECT count(*), avg(\"ndcg_at_5\") FROM read_parquet(?)",
                             [paths[0][0]])
    assert parquet[0][0] == 120 and 0 <= parquet[0][1] <= 1


def test_seen_items_are_never_recommended(run_recipe, tmp_path: Path) -> None:
    outcomes, store = run_recipe(tiny(tmp_path / "runs"))
    _, rows = store.query("""
        SELECT count(*) FROM recommendations r JOIN runs USING (run_id)
        JOIN interactions i ON i.data_key = runs.data_key AND i.user_id = r.user_id
             AND i.item_id = r.item_id AND i.split IN ('train', 'valid')
        WHERE r.run_id = ?""", [outcomes[0].run_id])
    assert rows == [(0,)]


def test_each_ranking_evaluator_ranks_with_its_own_mask_seen(run_recipe, tmp_path: Path
                                                              ) -> None:
    # One evaluator with mask_seen: false unmasked every other's ranking and the stored
    # recommendations.
    popularity = "model.encoders.user={plugin: popularity}"
    alone, _ = run_recipe(tiny(tmp_path / "alone", popularity))
    mixed, store = run_recipe(tiny(tmp_path / "mixed", popularity, "evaluate=[{plugin: ranking, "
                                   "params: {k: [5, 10]}}, {plugin: ranking, params: {k: [20], "
                                   "mask_seen: false}}]"))
    unmasked, _ = run_recipe(tiny(tmp_path / "unmasked", popularity, "train.monitor=ndcg@20",
                                  "evaluate=[{plugin: ranking, params: {k: [20], "
                                  "mask_seen: false}}]"))
    masked = {k: v for k, v in mixed[0].metrics.items() if k.endswith(("@5", "@10"))}
    assert masked == alone[0].metrics
    assert mixed[0].metrics["hr@20"] == unmasked[0].metrics["hr@20"] != alone[0].metrics.get(
        "hr@20")
    _, rows = store.query("""
        SELECT count(*) FROM recommendations r JOIN runs USING (run_id)
        JOIN interactions i ON i.data_key = runs.data_key AND i.user_id = r.user_id
             AND i.item_id = r.item_id AND i.split IN ('train', 'valid')
        WHERE r.run_id = ?""", [mixed[0].run_id])
    assert rows == [(0,)]  # what is shown leaves out seen items unless no evaluator does


def test_second_run_reuses_the_data_cache(tmp_path: Path) -> None:
    plugins = make_plugins()
    calls: list[str] = []

    class Recorder:
        @hookspecs.hookimpl
        def before_stage(self, run, family, name):
            calls.append(family)

    plugins.manager.register(Recorder())
    recipe = validate_mapping(tiny(tmp_path / "runs", "train.epochs=1"), plugins.registry)
    Runner(plugins, Console(quiet=True)).run(recipe)
    assert "ingest" in calls
    calls.clear()
    other = tiny(tmp_path / "runs", "train.epochs=1", "name=second", "train.lr=0.01")
    Runner(plugins, Console(quiet=True)).run(validate_mapping(other, plugins.registry))
    assert "ingest" not in calls and "train" in calls
    _, keys = ResultStore.in_dir(tmp_path / "runs").query(
        "SELECT count(DISTINCT data_key), count(*) FROM runs")
    assert keys == [(1, 2)]


def test_ctrl_c_marks_the_run_interrupted_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    plugins = make_plugins()

    class Interrupt:
        @hookspecs.hookimpl
        def after_epoch(self, run, epoch, metrics):
            raise KeyboardInterrupt

    plugins.manager.register(Interrupt())
    recipe = validate_mapping(tiny(tmp_path / "runs", "train.epochs=5"), plugins.registry)
    outcomes = Runner(plugins, Console(quiet=True)).run(recipe)
    assert outcomes[0].status == "interrupted"
    store = ResultStore.in_dir(tmp_path / "runs")
    _, rows = store.query("SELECT r.status, a.bytes > 0 FROM runs r JOIN artifacts a "
                          "USING (run_id) WHERE a.name = 'best'")
    assert rows == [("interrupted", True)]


def test_a_failing_run_is_marked_failed_with_its_error(tmp_path: Path) -> None:
    plugins = make_plugins()
    recipe = tiny(tmp_path / "runs")
    recipe["data"]["ingest"] = {"plugin": "sequences",
                                "params": {"path": str(tmp_path / "missing.txt")}}
    outcomes = Runner(plugins, Console(quiet=True)).run(validate_mapping(recipe, plugins.registry))
    assert outcomes[0].status == "failed"
    _, rows = ResultStore.in_dir(tmp_path / "runs").query("SELECT status, error FROM runs")
    assert rows[0][0] == "failed" and "missing.txt" in rows[0][1]


READER = textwrap.dedent("""
    import sys, time
    from recsys_kit.store import ResultStore
    store = ResultStore(sys.argv[1])
    ok = 0
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        if store.path.exists():
            store.query("SELECT count(*) FROM metrics")
            ok += 1
        time.sleep(0.01)
    print(ok)
""")


def test_a_run_and_a_reader_process_share_the_results_file(run_recipe, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    out.mkdir()
    ResultStore.in_dir(out).migrate()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out / "results.duckdb"), "15"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        outcomes, _ = run_recipe(tiny(out, "train.epochs=3", "train.patience=3"))
    finally:
        stdout, stderr = reader.communicate(timeout=60)
    assert outcomes[0].status == "completed"
    assert reader.returncode == 0, stderr
    assert int(stdout) > 10


def test_real_data_recipe_runs_end_to_end(shared_data: Path, run_recipe, tmp_path: Path) -> None:
    from recsys_kit.recipe.yaml_lines import read_yaml

    recipe, _ = read_yaml(Path(__file__).resolve().parents[1] / "recipes" / "ml-100k-sasrec.yaml")
    for key in ("interactions", "items"):
        name = Path(recipe["data"]["ingest"]["params"][key]["path"]).name
        recipe["data"]["ingest"]["params"][key]["path"] = str(shared_data / "ml-100k" / name)
    recipe["output"]["dir"] = str(tmp_path / "runs")
    outcomes, store = run_recipe(recipe, ["train.epochs=1",
                                          "model.encoders.user.params.max_len=50"])
    assert [o.status for o in outcomes] == ["completed", "completed"]
    _, rows = store.query("SELECT count(DISTINCT user_id) FROM recommendations WHERE run_id = ?",
                          [outcomes[0].run_id])
    assert rows == [(943,)]
    _, titles = store.query("SELECT count(*) FROM items WHERE title LIKE 'Toy Story%'")
    assert titles == [(1,)]


@pytest.mark.gpu
def test_tiny_recipe_on_cuda(run_recipe, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    outcomes, store = run_recipe(tiny(tmp_path / "runs", "device=cuda"))
    assert outcomes[0].status == "completed"
    assert store.query("SELECT device FROM runs")[1][0][0].startswith("cuda")


def test_skipped_bad_rows_are_recorded_as_an_artifact(run_recipe, tmp_path: Path) -> None:
    lines = [f"{u} {i} 5 {u * 100 + i}" for u in range(1, 21) for i in range(1, 8)]
    lines.insert(3, "1 oops")
    lines.insert(10, "2 3 x 9")
    path = tmp_path / "ratings.txt"
    path.write_text("\n".join(lines) + "\n")
    recipe = tiny(tmp_path / "runs")
    recipe["data"]["ingest"] = {"plugin": "files", "params": {
        "interactions": {"path": str(path), "delimiter": " ", "header": False,
                         "columns": ["user_id", "item_id", "rating", "ts"]},
        "on_bad_rows": "skip"}}
    _, store = run_recipe(recipe, ["train.epochs=1"])
    _, rows = store.query("SELECT path FROM artifacts WHERE name = 'skipped_rows'")
    text = Path(rows[0][0]).read_text()
    assert "ratings.txt,4," in text and "ratings.txt,11," in text


def test_top_k_beyond_the_unseen_catalogue_stores_only_real_unseen_items(
    run_recipe, tmp_path: Path
) -> None:
    recipe = tiny(tmp_path / "runs", "output.top_k=100", "evaluate.0.params.k=[10, 100]",
                  "baselines=[{plugin: popularity}]")
    outcomes, store = run_recipe(recipe)
    assert [o.status for o in outcomes] == ["completed", "completed"]
    for outcome in outcomes:
        _, rows = store.query("""
            SELECT count(*), count(DISTINCT (user_id, item_id)), max(rank),
                   count(*) FILTER (WHERE NOT isfinite(score))
            FROM recommendations WHERE run_id = ?""", [outcome.run_id])
        total, distinct, max_rank, infinite = rows[0]
        assert total == distinct and max_rank <= 60 and infinite == 0
        _, seen = store.query("""
            SELECT count(*) FROM recommendations r JOIN runs USING (run_id)
            JOIN interactions i ON i.data_key = runs.data_key AND i.user_id = r.user_id
                 AND i.item_id = r.item_id AND i.split IN ('train', 'valid')
            WHERE r.run_id = ?""", [outcome.run_id])
        assert seen == [(0,)]
        assert 0 < outcome.metrics["hr@100"] <= 1


def test_ctrl_c_in_a_baseline_stops_the_remaining_baselines(tmp_path: Path) -> None:
    plugins = make_plugins()

    class InterruptBaseline:
        @hookspecs.hookimpl
        def before_run(self, run):
            if run.loaded.recipe.name.endswith(":popularity"):
                raise KeyboardInterrupt

    plugins.manager.register(InterruptBaseline())
    recipe = tiny(tmp_path / "runs", "train.epochs=1",
                  "baselines=[{plugin: popularity}, {plugin: popularity}]")
    outcomes = Runner(plugins, Console(quiet=True)).run(validate_mapping(recipe, plugins.registry))
    assert [o.status for o in outcomes] == ["completed", "interrupted"]


def test_a_failing_after_run_hook_does_not_fail_the_run(tmp_path: Path) -> None:
    plugins = make_plugins()

    class BrokenLogger:
        @hookspecs.hookimpl
        def after_run(self, run, status, metrics):
            raise RuntimeError("logger is down")

    plugins.manager.register(BrokenLogger())
    recipe = validate_mapping(tiny(tmp_path / "runs", "train.epochs=1"), plugins.registry)
    outcomes = Runner(plugins, Console(quiet=True)).run(recipe)
    assert outcomes[0].status == "completed"
    _, rows = ResultStore.in_dir(tmp_path / "runs").query("SELECT status FROM runs")
    assert rows == [("completed",)]


def test_each_step_selects_its_targets_by_the_host_count(run_recipe, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    from recsys_kit.nn.model import SequenceRecommender

    counts: list[tuple[int | None, int]] = []
    original = SequenceRecommender.loss

    @functools.wraps(original)
    def loss(self, history, targets, kept=None):
        counts.append((kept, int((targets != 0).sum())))
        return original(self, history, targets, kept)

    monkeypatch.setattr(SequenceRecommender, "loss", loss)
    run_recipe(tiny(tmp_path / "runs", "train.epochs=2", "train.batch_size=16"))
    assert len(counts) > 10
    assert all(kept == on_device for kept, on_device in counts)  # never None, never off


def test_gbce_learns_more_than_popularity(run_recipe, tmp_path: Path) -> None:
    # Regression: gbce used to stall at popularity's level on small catalogues (see
    # test_losses.py::test_gbce_starts_where_a_constant_score_is_optimal).
    recipe = tiny(tmp_path / "runs", "data.ingest.params={n_users: 600, n_items: 200, "
                  "n_topics: 8, min_len: 20, max_len: 40}",
                  "model.encoders.user.params={layers: 1, heads: 1, dim: 32, max_len: 40}",
                  "model.scorer={plugin: dot, params: {loss: gbce}}",
                  "train.epochs=4", "train.patience=4", "train.lr=0.002",
                  "baselines=[{plugin: popularity}]")
    outcomes, _ = run_recipe(recipe)
    gbce, popularity = (o.metrics["ndcg@10"] for o in outcomes)
    assert gbce > 2 * popularity
