"""Updating without starting over: warm start (train.init_from) and the rolling split."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from recsys_kit.builtin.split import Rolling, RollingConfig
from recsys_kit.columns import INTERACTIONS, SPLIT_INTERACTIONS, TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.recipe.yaml_lines import apply_override
from recsys_kit.runner.context import DataContext
from recsys_kit.runner.warm_start import source_run, warm_start
from recsys_kit.serving.locate import RunFiles
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny


def _overridden(recipe: dict, overrides: tuple[str, ...]) -> dict:
    for item in overrides:
        apply_override(recipe, item)
    return recipe


def _data(items: list[str]) -> SequenceData:
    n = len(items)
    return SequenceData(
        user_ids=np.array(["u"]), item_ids=np.array(items), offsets=np.array([0, n]),
        items=np.arange(1, n + 1), split=np.zeros(n, dtype=np.int8))


class _Model(torch.nn.Module):
    """An item table (padding, items, mask), a per-item buffer and a position table."""

    def __init__(self, n_items: int, positions: int = 4) -> None:
        super().__init__()
        self.items = torch.nn.Parameter(torch.randn(n_items + 2, 3))
        self.register_buffer("counts", torch.arange(n_items + 2, dtype=torch.float32))
        self.positions = torch.nn.Parameter(torch.randn(positions, 3))


def _source(folder: Path, items: list[str], model: torch.nn.Module) -> RunFiles:
    folder.mkdir(parents=True)
    _data(items).save(folder / "serving.npz")
    save_file(dict(model.state_dict()), str(folder / "best.safetensors"))
    return RunFiles("old-run", "old", {}, "<test>", folder, None)


def test_warm_start_keeps_known_items_and_starts_new_ones_from_the_mean(tmp_path: Path) -> None:
    old = _Model(3)
    source = _source(tmp_path / "old", ["a", "b", "c"], old)
    new = _Model(4)
    before = new.state_dict()["counts"].clone()
    report = warm_start(new, _data(["c", "a", "d", "e"]), source)

    trained = old.items.detach()
    rows = new.items.detach()
    torch.testing.assert_close(rows[1], trained[3])  # c
    torch.testing.assert_close(rows[2], trained[1])  # a
    for fresh in (3, 4):  # d, e: the mean of a, b, c
        torch.testing.assert_close(rows[fresh], trained[1:4].mean(dim=0))
    torch.testing.assert_close(rows[0], trained[0])
    torch.testing.assert_close(rows[-1], trained[-1])
    torch.testing.assert_close(new.positions.detach(), old.positions.detach())
    # A per-item buffer is derived from this run's data: never overwritten.
    torch.testing.assert_close(new.state_dict()["counts"], before)
    assert (report.kept_items, report.new_items, report.gone_items) == (2, 2, 1)
    assert "2 new items" in report.describe()


def test_warm_start_with_other_model_settings_names_the_weight(tmp_path: Path) -> None:
    source = _source(tmp_path / "old", ["a", "b"], _Model(2, positions=4))
    with pytest.raises(RecsysKitError, match=r"'positions' has shape \(4, 3\) there and "
                                             r"\(6, 3\) here"):
        warm_start(_Model(2, positions=6), _data(["a", "b"]), source)


def test_init_from_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecsysKitError, match="no results file"):
        source_run("no-such-run", tmp_path)


def _labels(rounds: int, round_: int) -> dict[int, int]:
    """ts -> split label of one round over 100 interactions at ts 0..99."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {INTERACTIONS} AS SELECT (i % 5)::VARCHAR AS user_id, "
                "'i' || i AS item_id, i::DOUBLE AS ts, i AS row_no FROM range(100) t(i)")
    config = RollingConfig(rounds=rounds, window_fraction=0.1, valid_fraction=0.1,
                           round=round_)
    Rolling(config).run(DataContext(con))
    return dict(con.execute(f"SELECT ts::INT, split FROM {SPLIT_INTERACTIONS}").fetchall())


def test_rolling_rounds_move_the_test_window_and_hide_the_future() -> None:
    first, middle, last = _labels(3, 1), _labels(3, 2), _labels(3, 3)

    def part(labels: dict[int, int], label: int) -> set[int]:
        return {ts for ts, s in labels.items() if s == label}

    # Cuts are DuckDB's discrete quantiles of ts (q = 0.6, 0.7, 0.8, 0.9 -> 59, 69, 79, 89).
    assert part(first, TEST) == set(range(69, 79))
    assert part(first, VALID) == set(range(59, 69))
    assert part(first, TRAIN) == set(range(59))  # and nothing from 79 on: the future
    assert part(middle, TEST) == set(range(79, 89))  # the next window
    assert part(middle, TRAIN) | part(middle, VALID) == set(range(79))
    assert part(last, TEST) == set(range(89, 100))  # the last window runs to the end
    assert part(last, TRAIN) == set(range(79))


def test_rolling_settings_that_leave_no_training_data_are_refused() -> None:
    with pytest.raises(ValueError, match="below 1"):
        RollingConfig(rounds=10, window_fraction=0.1)
    with pytest.raises(ValueError, match="past the last round"):
        RollingConfig(rounds=2, round=3)


def test_later_rounds_fine_tune_with_their_own_epochs_and_learning_rate(isolated_plugins
                                                                        ) -> None:
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.rolling import round_recipe

    recipe = tiny(Path("runs"), "train.lr=0.001", "train.epochs=30",
                  "data.split={plugin: rolling, params: {rounds: 3, warm_epochs: 4, "
                  "warm_lr: 5.0e-5}}")
    loaded = validate_mapping(recipe, isolated_plugins.registry)
    first = round_recipe(loaded, 1, None, isolated_plugins.registry).recipe
    later = round_recipe(loaded, 2, "run-1", isolated_plugins.registry).recipe
    assert (first.train.lr, first.train.epochs, first.train.init_from) == (0.001, 30, None)
    assert (later.train.lr, later.train.epochs, later.train.init_from) == (5e-5, 4, "run-1")
    assert later.name == "tiny:round-2"


def _rolling(out: Path, data: Path, *overrides: str) -> dict:
    recipe = tiny(out, "name=ml-100k-rolling", "train.epochs=1",
                  "model.encoders.user.params.max_len=20", "baselines=[{plugin: popularity}]",
                  "data.split={plugin: rolling, params: {rounds: 3, window_fraction: 0.1, "
                  "valid_fraction: 0.05}}")
    recipe["data"]["ingest"] = {"plugin": "files", "params": {"interactions": {
        "path": str(data / "ml-100k/u.data"), "delimiter": "\t", "header": False,
        "columns": ["user_id", "item_id", "rating", "ts"]}}}
    return _overridden(recipe, overrides)


def _rounds(store: ResultStore) -> list[tuple]:
    return store.query(
        "SELECT trial, run_id, status, trial_params, recipe FROM runs WHERE sweep_id IS NOT "
        "NULL AND parent_run_id IS NULL ORDER BY trial, started_at")[1]


def test_rolling_recipe_runs_warm_started_rounds_grouped_as_a_sweep(
    shared_data: Path, run_recipe, tmp_path: Path
) -> None:
    outcomes, store = run_recipe(_rolling(tmp_path / "runs", shared_data))
    assert [o.name for o in outcomes] == [
        f"ml-100k-rolling:round-{r}{b}" for r in (1, 2, 3) for b in ("", ":popularity")]
    assert all(o.status == "completed" for o in outcomes)
    rounds = _rounds(store)
    assert [r[0] for r in rounds] == [1, 2, 3]
    assert [json.loads(r[3]) for r in rounds] == [
        {"data.split.params.round": r} for r in (1, 2, 3)]
    recipes = [json.loads(r[4]) for r in rounds]
    assert recipes[0]["train"]["init_from"] is None
    assert [rec["train"]["init_from"] for rec in recipes[1:]] == [rounds[0][1], rounds[1][1]]
    _, sweeps = store.query("SELECT method, status, n_trials, best_run_id FROM sweeps")
    assert sweeps == [("rolling", "completed", 3, rounds[2][1])]
    _, tested = store.query("SELECT count(DISTINCT run_id) FROM metrics WHERE split = 'test' "
                            "AND metric = 'ndcg' AND k = 10")
    assert tested == [(6,)]  # every round and its baseline


def test_a_warm_started_round_begins_from_the_previous_rounds_weights(
    shared_data: Path, run_recipe, tmp_path: Path
) -> None:
    """With no training at all (learning rate ~0), round 2's weights are round 1's, remapped."""
    out = tmp_path / "runs"
    _, store = run_recipe(_rolling(out, shared_data, "data.split.params.rounds=2",
                                   "train.lr=1e-12", "baselines=[]"))
    (_, first, *_), (_, second, *_) = _rounds(store)
    old, new = (load_file(str(out / "artifacts" / r / "best.safetensors")) for r in (first,
                                                                                    second))
    old_items = SequenceData.load(out / "artifacts" / first / "serving.npz").item_ids
    new_items = SequenceData.load(out / "artifacts" / second / "serving.npz").item_ids
    assert len(new_items) > len(old_items)  # the window brought new movies
    key = next(k for k in old if k.endswith("embedding.weight"))
    at = {item: i for i, item in enumerate(old_items)}
    for token, item in enumerate(new_items[:50], start=1):
        if item in at:
            torch.testing.assert_close(new[key][token], old[key][at[item] + 1], atol=1e-6,
                                       rtol=0)


def test_an_interrupted_round_resumes_and_the_later_rounds_follow(
    shared_data: Path, run_recipe, isolated_plugins, tmp_path: Path
) -> None:
    from rich.console import Console

    from recsys_kit.runner.pipeline import Runner

    out = tmp_path / "runs"
    _, store = run_recipe(_rolling(out, shared_data, "baselines=[]"))
    rounds = _rounds(store)
    # As if the process had been killed during round 2: round 3 never started.
    with duckdb.connect(str(store.path)) as con:
        con.execute("UPDATE runs SET status = 'lost' WHERE run_id = ?", [rounds[1][1]])
        for table in ("metrics", "recommendations", "explanations", "artifacts", "runs"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [rounds[2][1]])
        con.execute("UPDATE sweeps SET status = 'running', best_run_id = NULL")
    outcomes = Runner(isolated_plugins, Console(quiet=True)).resume(rounds[1][1], store.path)
    assert [o.status for o in outcomes] == ["completed", "completed"]
    after = _rounds(store)
    assert [(r[0], r[2]) for r in after] == [(1, "completed"), (2, "completed"),
                                            (3, "completed")]
    assert json.loads(after[2][4])["train"]["init_from"] == rounds[1][1]
    _, sweeps = store.query("SELECT status, best_run_id FROM sweeps")
    assert sweeps == [("completed", after[2][1])]


def test_a_sweep_of_a_rolling_recipe_is_refused(isolated_plugins, tmp_path: Path) -> None:
    import yaml

    from recsys_kit.sweeps.plan import plan_sweep

    recipe = tmp_path / "rolling.yaml"
    recipe.write_text(yaml.safe_dump(tiny(tmp_path / "runs", "data.split={plugin: rolling}")))
    with pytest.raises(RecsysKitError, match="rolling split"):
        plan_sweep(recipe, [], ["train.lr=0.001,0.002"], None, [], None,
                   isolated_plugins.registry, "sweep-x")
