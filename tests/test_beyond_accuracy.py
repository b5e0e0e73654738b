"""Beyond-accuracy metrics against values worked out by hand, the evaluator context's calling
convention, and the evaluator end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from recsys_kit.builtin.evaluators import (
    BeyondAccuracyConfig,
    BeyondAccuracyEvaluator,
    EvalResult,
)
from recsys_kit.errors import RecsysKitError
from recsys_kit.evaluation import beyond_accuracy as ba
from recsys_kit.evaluation.context import EvalContext, evaluate_with
from recsys_kit.ranking import Ranking
from recsys_kit.testing import tiny

# Four items; tokens 1..4. Training counts: item 1 three times, item 2 once, 3 and 4 never.
COUNTS = np.array([0, 3, 1, 0, 0])
TOP = np.array([[1, 2], [1, 3]])
# Vectors by token (row 0 padding, last row the mask token).
VECTORS = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [0, 0]], dtype=np.float32)


def context(**extra) -> EvalContext:
    return EvalContext("test", np.array(["a", "b", "c", "d"]), COUNTS,
                       item_side={"genres": np.array(["A|B", "B", "", "C"])}, **extra)


def test_coverage_and_gini_by_hand() -> None:
    # exposure: item 1 twice, items 2 and 3 once, item 4 never
    assert ba.coverage(TOP, 4) == 0.75
    # sorted exposure [0, 1, 1, 2], weights 2i - n - 1 = [-3, -1, 1, 3]: 6 / (4 * 4)
    assert ba.gini(TOP, 4) == pytest.approx(0.375)
    assert ba.gini(np.array([[1, 2], [3, 4]]), 4) == 0.0
    assert math.isnan(ba.gini(np.zeros((2, 2), dtype=int), 4))


def test_novelty_and_popularity_by_hand() -> None:
    share = context().popularity_share()  # (count + 1) / (4 + 4)
    assert share[1:] == pytest.approx([0.5, 0.25, 0.125, 0.125])
    # -log2 shares: item 1 -> 1, item 2 -> 2, item 3 -> 3
    assert ba.novelty(TOP, share) == pytest.approx([1.5, 2.0])
    assert ba.average_popularity(TOP, COUNTS) == pytest.approx([2.0, 1.5])


def test_empty_slots_count_for_nothing() -> None:
    top = np.array([[2, 0], [0, 0]])
    share = context().popularity_share()
    novelty = ba.novelty(top, share)
    assert novelty[0] == pytest.approx(2.0) and math.isnan(novelty[1])
    assert ba.coverage(top, 4) == 0.25
    assert np.isnan(ba.intra_list_diversity(top, VECTORS)).all()


def test_intra_list_diversity_by_hand() -> None:
    # user 0: orthogonal items -> 1; user 1: cos([1,0],[1,1]) = 1/sqrt(2)
    assert ba.intra_list_diversity(TOP, VECTORS) == pytest.approx([1.0, 1 - 1 / math.sqrt(2)])
    three = np.array([[1, 2, 3]])  # pairs: 0, 1/sqrt2, 1/sqrt2
    assert ba.intra_list_diversity(three, VECTORS) == pytest.approx([1 - math.sqrt(2) / 3])


def test_category_vectors_are_multi_hot_by_token() -> None:
    vectors = ba.category_vectors(np.array(["A|B", "B", "", "C"]), "|")
    assert vectors.tolist() == [[0, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]]
    # items 1 and 2 share B: cos = 1/sqrt(2); item 3 has no category: similar to nothing
    assert ba.intra_list_diversity(np.array([[1, 2], [1, 3]]), vectors) == pytest.approx(
        [1 - 1 / math.sqrt(2), 1.0])


def ranking(items, targets) -> Ranking:
    return Ranking(users=np.arange(len(items)), items=np.array(items),
                   scores=np.zeros((len(items), len(items[0]))),
                   targets=[np.array(t, dtype=np.int64) for t in targets])


def test_evaluator_reports_catalogue_and_per_user_values() -> None:
    evaluator = BeyondAccuracyEvaluator(BeyondAccuracyConfig(k=[1, 2]))
    calls = []
    ctx = context(vectors=lambda: calls.append(1) or VECTORS)
    result = evaluator.evaluate(ranking([[1, 2], [1, 3], [4, 2]], [[3], [4], []]), ctx)
    m = result.metrics
    assert m["coverage@2"] == 0.75 and m["coverage@1"] == 0.25  # user 2 has no target
    assert m["gini@2"] == pytest.approx(0.375)
    assert m["novelty@2"] == pytest.approx(1.75) and m["arp@2"] == pytest.approx(1.75)
    assert m["ild@2"] == pytest.approx((1 + 1 - 1 / math.sqrt(2)) / 2)
    assert math.isnan(m["ild@1"])  # one item: no pair to compare
    assert list(result.users) == [0, 1]
    assert set(result.per_user) == {"novelty@1", "novelty@2", "arp@1", "arp@2", "ild@1",
                                    "ild@2"}
    assert calls == [1]  # the item table is computed once


def test_diversity_by_side_column_and_models_without_vectors() -> None:
    by_genre = BeyondAccuracyEvaluator(BeyondAccuracyConfig(k=[2], diversity="genres"))
    result = by_genre.evaluate(ranking([[1, 2], [1, 3]], [[4], [4]]), context())
    assert result.metrics["ild@2"] == pytest.approx((1 - 1 / math.sqrt(2) + 1) / 2)
    by_model = BeyondAccuracyEvaluator(BeyondAccuracyConfig(k=[2]))
    assert "ild@2" not in by_model.evaluate(ranking([[1, 2]], [[4]]), context()).metrics
    wrong = BeyondAccuracyEvaluator(BeyondAccuracyConfig(diversity="genre"))
    with pytest.raises(RecsysKitError, match=r"'genre'.*it has: genres"):
        wrong.evaluate(ranking([[1, 2]], [[4]]), context())


def test_old_one_argument_evaluators_still_work() -> None:
    class Old:
        def evaluate(self, ranking):
            return EvalResult({"old": 1.0}, {}, ranking.users)

    class New:
        def evaluate(self, ranking, context):
            return EvalResult({"n": float(context.n_items)}, {}, ranking.users)

    r = ranking([[1]], [[1]])
    assert evaluate_with(Old(), r, context()).metrics == {"old": 1.0}
    assert evaluate_with(New(), r, context()).metrics == {"n": 4.0}


def test_beyond_accuracy_end_to_end(run_recipe, tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "baselines=[{plugin: popularity}]", "train.epochs=1")
    recipe["evaluate"].append({"plugin": "beyond_accuracy", "params": {"k": [5]}})
    recipe["evaluate"].append({"plugin": "beyond_accuracy",
                               "params": {"k": [10], "metrics": ["ild"], "diversity": "genres"}})
    outcomes, store = run_recipe(recipe)
    model, popularity = (o.metrics for o in outcomes)
    for name in ("coverage@5", "gini@5", "novelty@5", "arp@5", "ild@5", "ild@10"):
        assert math.isfinite(model[name]), name
    assert 0 < model["coverage@5"] <= 1 and 0 <= model["gini@5"] <= 1
    # popularity recommends (nearly) the same items to everyone: less coverage, more popular
    assert popularity["coverage@5"] < model["coverage@5"]
    assert popularity["arp@5"] > model["arp@5"]
    assert "ild@5" not in popularity and math.isfinite(popularity["ild@10"])
    _, rows = store.query("SELECT split, count(*) FROM metrics WHERE run_id = ? AND metric "
                          "IN ('coverage', 'novelty') GROUP BY split ORDER BY split",
                          [outcomes[0].run_id])
    assert rows == [("test", 2), ("valid", 2)]
    _, paths = store.query("SELECT path FROM artifacts WHERE run_id = ? "
                           "AND name = 'per_user_test_metrics'", [outcomes[0].run_id])
    _, parquet = store.query("SELECT count(novelty_at_5), count(ild_at_10) "
                             "FROM read_parquet(?)", [paths[0][0]])
    assert parquet == [(120, 120)]
