"""BERT4Rec masking, the cold_items split, rating prediction and its baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys_kit.builtin.evaluators import RatingConfig, RatingEvaluator
from recsys_kit.builtin.split import ColdItems, ColdItemsConfig
from recsys_kit.columns import TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import DataError
from recsys_kit.nn.batches import append_mask, mask_items, training_rows
from recsys_kit.nn.encoders.mean_rating import MeanRating
from recsys_kit.nn.model import ModelShape
from recsys_kit.predictions import PairPredictions
from recsys_kit.runner.modelling import cold_items
from recsys_kit.testing import tiny
from tests.test_split_tokenize import context, tokenized

ROOT = Path(__file__).resolve().parents[1]


# -- BERT4Rec ----------------------------------------------------------------------------------


def test_mask_items_masks_real_items_only_and_targets_them() -> None:
    torch.manual_seed(0)
    history = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]] * 50)
    inputs, targets = mask_items(history, 0.3, mask_token=99)
    chosen = inputs == 99
    assert not chosen[:, :2].any()  # padding is never masked
    assert torch.equal(targets[chosen], history[chosen])
    assert torch.all(targets[~chosen] == 0)
    assert torch.all(inputs[~chosen] == history[~chosen])
    assert chosen.any(1).all()  # every row trains on something
    assert 0.2 < chosen[:, 2:].float().mean() < 0.45


def test_a_row_with_nothing_drawn_masks_its_latest_item() -> None:
    inputs, targets = mask_items(torch.tensor([[0, 5, 6]]), 1e-9, mask_token=9)
    assert inputs.tolist() == [[0, 5, 9]] and targets.tolist() == [[0, 0, 6]]


def test_append_mask_keeps_the_latest_items() -> None:
    assert append_mask(torch.tensor([[0, 1, 2, 3]]), 9).tolist() == [[1, 2, 3, 9]]


def test_masked_training_rows_are_whole_sequences() -> None:
    rows = training_rows([np.array([1, 2, 3]), np.array([4])], 4, masked=True)
    assert rows["history"].tolist() == [[0, 1, 2, 3]]
    assert np.array_equal(rows["history"], rows["targets"])


def test_bert4rec_recipe_trains_and_beats_popularity(tmp_path: Path, run_recipe) -> None:
    recipe = tiny(tmp_path / "runs",
                  "model.encoders.user={plugin: bert4rec, params: {layers: 1, heads: 1, dim: 16, "
                  "max_len: 16, mask_prob: 0.3}}", "train.epochs=8", "train.patience=8",
                  "baselines=[{plugin: popularity}]")
    outcomes, _ = run_recipe(recipe)
    assert outcomes[0].metrics["ndcg@10"] > outcomes[1].metrics["ndcg@10"]


# -- cold_items split --------------------------------------------------------------------------


def cold_context() -> object:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{rng.integers(40)}", float(t)) for u in range(30) for t in range(12)]
    return context(rows)


def test_cold_split_leaks_nothing() -> None:
    ctx = cold_context()
    ColdItems(ColdItemsConfig(fraction=0.2)).run(ctx)
    con = ctx.con
    held = {r[0] for r in con.execute("SELECT item_id FROM cold_items").fetchall()}
    assert len(held) == 8
    by_split: dict[int, set[str]] = {}
    for item, split in con.execute("SELECT item_id, split FROM split_interactions").fetchall():
        by_split.setdefault(split, set()).add(item)
    assert not held & (by_split[TRAIN] | by_split[VALID])  # held-out items are never trained on
    assert by_split[TEST] <= held
    late = con.execute("""
        SELECT count(*) FROM split_interactions h JOIN split_interactions t USING (user_id)
        WHERE t.split = 2 AND h.split < 2 AND h.ts >= t.ts
    """).fetchone()[0]
    assert late == 0  # a test item's history is strictly earlier
    one = con.execute("SELECT max(n) FROM (SELECT count(*) n FROM split_interactions "
                      "WHERE split = 2 GROUP BY user_id)").fetchone()[0]
    assert one == 1
    data = tokenized(ctx)
    cold = cold_items(data)
    assert set(data.item_ids[np.flatnonzero(cold) - 1]) == by_split[TEST]


def test_cold_split_is_seeded_and_changes_with_the_seed() -> None:
    picks = []
    for seed in (1, 1, 2):
        ctx = cold_context()
        ctx.seed = seed
        ColdItems(ColdItemsConfig(fraction=0.2)).run(ctx)
        picks.append(sorted(r[0] for r in ctx.con.execute("SELECT * FROM cold_items").fetchall()))
    assert picks[0] == picks[1] != picks[2]


def test_cold_split_without_testable_users_is_a_clear_error() -> None:
    ctx = context([("u", "a", 1.0), ("u", "b", 2.0)])
    with pytest.raises(DataError, match="fraction"):
        ColdItems(ColdItemsConfig(fraction=0.5)).run(ctx)


def test_ranking_restricted_to_candidates_returns_only_them() -> None:
    from recsys_kit.nn.encoders.popularity import Popularity
    from recsys_kit.nn.ranking.rank import rank

    data = SequenceData(
        user_ids=np.array(["a", "b"]), item_ids=np.array(["w", "x", "y", "z"]),
        offsets=np.array([0, 3, 6]), items=np.array([1, 2, 3, 2, 1, 4]),
        split=np.array([TRAIN, VALID, TEST, TRAIN, VALID, TEST], dtype=np.int8))
    pop = Popularity(ModelShape(n_items=4, dim=4, max_len=4, item_counts=data.train_counts()))
    pop.fit(data)
    cold = cold_items(data)
    assert np.flatnonzero(cold).tolist() == [3, 4]
    ranking = rank(pop, data.sequences(VALID), data.targets(TEST), k=3, max_len=4,
                   batch_size=8, device=torch.device("cpu"), candidates=cold)
    assert set(ranking.items[ranking.items != 0].tolist()) <= {3, 4}


def test_cold_start_recipe_evaluates_on_held_out_items(tmp_path: Path, run_recipe) -> None:
    recipe = tiny(tmp_path / "runs", "data.split={plugin: cold_items, params: {fraction: 0.2}}",
                  "evaluate=[{plugin: ranking, params: {k: [5], test_candidates: cold}}]",
                  "train.monitor=ndcg@5", "baselines=[{plugin: popularity}]")
    outcomes, _ = run_recipe(recipe)
    # Among 12 held-out items, 5 slots: even chance gives recall 5/12 for any model.
    assert 0 < outcomes[0].metrics["recall@5"] <= 1
    assert outcomes[1].metrics["recall@5"] <= 1


# -- ratings -----------------------------------------------------------------------------------


def test_rating_evaluator_rmse_and_mae() -> None:
    pairs = PairPredictions(users=np.array([0, 0, 1, 2]), items=np.array([1, 2, 1, 3]),
                            predicted=np.array([4.0, 3.0, 2.0, 5.0]),
                            actual=np.array([5.0, 3.0, 4.0, np.nan]))
    result = RatingEvaluator(RatingConfig()).evaluate(pairs)
    assert result.metrics["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert result.metrics["mae"] == pytest.approx(1.0)
    assert result.users.tolist() == [0, 1]
    assert result.per_user["mae"].tolist() == [0.5, 2.0]


def test_mean_rating_baselines() -> None:
    data = SequenceData(
        user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z"]),
        offsets=np.array([0, 3, 6]), items=np.array([1, 2, 3, 1, 2, 3]),
        split=np.array([TRAIN, TRAIN, TEST, TRAIN, VALID, TEST], dtype=np.int8),
        ratings=np.array([4.0, 2.0, 5.0, 2.0, 1.0, 1.0], dtype=np.float32),
    )
    shape = ModelShape(n_items=3, dim=4, max_len=4, item_counts=data.train_counts())
    item_mean, global_mean = MeanRating(shape, per_item=True), MeanRating(shape, per_item=False)
    item_mean.fit(data)
    global_mean.fit(data)
    history = torch.tensor([[1, 2]])
    assert item_mean.pair_scores(history, torch.tensor([[1, 2, 3]])).tolist() == [
        [3.0, 2.0, pytest.approx(8 / 3)]]  # z has no training rating: the global mean
    assert global_mean.pair_scores(history, torch.tensor([[3]])).item() == pytest.approx(8 / 3)


def test_rating_recipe_on_movielens_100k(shared_data: Path, tmp_path: Path, run_recipe) -> None:
    from recsys_kit.recipe.yaml_lines import read_yaml

    recipe, _ = read_yaml(ROOT / "recipes" / "ml-1m-ratings.yaml")
    ml = shared_data / "ml-100k"
    interactions = recipe["data"]["ingest"]["params"]["interactions"]
    interactions.update(path=str(ml / "u.data"), delimiter="\t")
    recipe["data"]["ingest"]["params"]["items"] = {
        "path": str(ml / "u.item"), "delimiter": "|", "header": False, "encoding": "latin-1",
        "mapping": {"item_id": "field1", "title": "field2"}}
    recipe["model"]["encoders"]["item"] = [{"plugin": "id_embedding"}]
    recipe["train"].update(epochs=3, max_minutes=None)
    recipe["output"]["dir"] = str(tmp_path / "runs")
    outcomes, store = run_recipe(recipe)
    model, global_mean, item_mean = (o.metrics for o in outcomes)
    assert 0.5 < model["rmse"] < 1.5 and 0.3 < model["mae"] < 1.2
    assert item_mean["rmse"] < global_mean["rmse"]
    _, rows = store.query("SELECT count(*), min(score) FROM recommendations WHERE run_id = ?",
                          [outcomes[0].run_id])
    assert rows[0][0] == 0 or rows[0][1] > 4.0  # threshold: predicted above 4 stars only


def test_rating_evaluator_with_a_ranking_monitor_fails_validation() -> None:
    from recsys_kit.errors import RecipeError
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping

    recipe = tiny(Path("runs"), "evaluate=[{plugin: rating}]")
    with pytest.raises(RecipeError, match="mae, rmse"):
        validate_mapping(recipe, make_plugins().registry)
