"""Serving runs on real data (MovieLens-100K): a rating model that reads its users' ratings,
and the mean-rating baseline, with the recipe's rating threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recsys_kit
from recsys_kit.columns import VALID
from tests.serving.conftest import Trained, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rating_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    data = shared_data / "ml-100k"
    return train(
        tmp_path_factory.mktemp("ml-100k") / "runs",
        f"data.ingest={{plugin: files, params: {{interactions: {{path: '{data / 'u.data'}', "
        'delimiter: "\\t", header: false, columns: [user_id, item_id, rating, ts]}, items: '
        f"{{path: '{data / 'u.item'}', delimiter: '|', header: false, encoding: latin-1, "
        "mapping: {item_id: field1, title: field2}}}}",
        "model.encoders.user.params.max_len=20",
        "model.fusion={plugin: target_attention, params: {explain_top: 2}}",
        "model.scorer={plugin: mlp, params: {loss: mse, hidden: [16], positions: 8}}",
        "evaluate=[{plugin: rating, params: {metrics: [rmse, mae]}}]", "train.monitor=rmse",
        "baselines=[{plugin: item_mean}]", "output.threshold=3.0", "output.top_k=10")


def test_the_mean_rating_baseline_serves_what_it_stored(rating_run: Trained) -> None:
    run_id = rating_run.baselines[0]
    run = recsys_kit.load_run(run_id, results=rating_run.results, device="cpu")
    histories = run.data.sequences(VALID)
    for user in ("1", "13", "405"):
        row = int(np.flatnonzero(run.user_ids == user)[0])
        seen = run.item_ids[histories[row] - 1].tolist()
        _, expected = rating_run.store.query(
            "SELECT item_id, score FROM recommendations WHERE run_id = ? AND user_id = ? "
            "ORDER BY rank", [run_id, user])
        got = run.recommend(history=seen, k=10)
        assert [(r.item_id, round(r.score, 4)) for r in got.items] == [
            (i, round(s, 4)) for i, s in expected]
        assert all(r.score > 3.0 for r in got.items) and got.items[0].title


def test_a_rating_model_reads_the_users_ratings(rating_run: Trained) -> None:
    run = recsys_kit.load_run(rating_run.run_id, results=rating_run.results, device="cpu")
    assert run.model.uses_ratings and run.data.ratings is not None
    recs = run.recommend(user="1", k=10, explain=True)
    assert recs.items and all(3.0 < r.score < 6.0 for r in recs.items)  # predicted stars
    assert recs.explain_method == "attention" and recs.items[0].explanation
    fresh = run.recommend(history=run.history_of("1")[-5:], k=5)  # unrated: NaN ratings
    assert all(np.isfinite(r.score) for r in fresh.items)
