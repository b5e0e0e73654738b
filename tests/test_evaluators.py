"""Ranking metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys_kit.builtin.evaluators import RankingConfig, RankingEvaluator
from recsys_kit.ranking import Ranking


def evaluate(items, targets, k=(1, 3)):
    ranking = Ranking(users=np.arange(len(items)), items=np.array(items),
                      scores=np.zeros((len(items), len(items[0]))),
                      targets=[np.unique(t) for t in targets])
    return RankingEvaluator(RankingConfig(k=list(k))).evaluate(ranking)


def test_single_target_metrics() -> None:
    # user 0: target at rank 2; user 1: target at rank 1; user 2: missed
    result = evaluate([[5, 7, 9], [3, 1, 2], [4, 6, 8]],
                      [np.array([7]), np.array([3]), np.array([1])])
    m = result.metrics
    assert m["hr@1"] == pytest.approx(1 / 3)
    assert m["hr@3"] == pytest.approx(2 / 3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1) / 3)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 1) / 3)
    assert m["precision@3"] == pytest.approx(2 / 9)
    assert m["recall@3"] == pytest.approx(2 / 3)
    assert list(result.per_user["hr@3"]) == [1, 1, 0]


def test_multiple_targets_use_ideal_dcg_and_recall_over_targets() -> None:
    result = evaluate([[1, 2, 3]], [np.array([2, 3, 9, 10])], k=(3,))
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert result.metrics["ndcg@3"] == pytest.approx(dcg / idcg)
    assert result.metrics["recall@3"] == pytest.approx(2 / 4)
    assert result.metrics["mrr@3"] == pytest.approx(1 / 2)


def test_users_without_targets_are_left_out() -> None:
    result = evaluate([[1, 2, 3], [1, 2, 3]], [np.array([1]), np.array([], dtype=int)])
    assert result.metrics["hr@1"] == 1.0
    assert list(result.users) == [0]


def test_metric_names_cover_every_metric_and_k() -> None:
    names = RankingConfig(metrics=["hr", "ndcg"], k=[5, 10]).metric_names()
    assert names == ["hr@5", "hr@10", "ndcg@5", "ndcg@10"]


def test_repeated_targets_count_once() -> None:
    result = evaluate([[4, 2, 3]], [np.array([2, 2, 2])], k=(3,))
    assert result.metrics["recall@3"] == pytest.approx(1.0)
    assert result.metrics["ndcg@3"] == pytest.approx(1 / math.log2(3))


def test_empty_slots_never_hit_and_short_rankings_are_scored() -> None:
    from recsys_kit.ranking import NO_ITEM

    result = evaluate([[7, NO_ITEM, NO_ITEM]], [np.array([7])], k=(1, 10))
    assert result.metrics["hr@1"] == 1.0 and result.metrics["ndcg@10"] == pytest.approx(1.0)
