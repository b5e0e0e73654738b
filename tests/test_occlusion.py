"""Occlusion explanations: the occluded histories, drops against a model whose answer is known,
and the recipe switch end to end (SASRec, BERT4Rec, target attention)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from recsys_kit.errors import RecsysKitError
from recsys_kit.runner.explain import first_users
from recsys_kit.runner.occlusion import Reason, explain, occluded, occlusion_reasons
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny


def test_occluded_histories_remove_one_seen_item_each() -> None:
    rows, positions = occluded(np.array([5, 6, 7]), max_len=3)
    assert rows.tolist() == [[5, 6, 7], [0, 6, 7], [0, 5, 7], [0, 5, 6]]
    assert positions.tolist() == [0, 1, 2]
    # The model sees only the last two: removing one lets the oldest slide back in.
    rows, positions = occluded(np.array([4, 5, 6, 7]), max_len=2)
    assert rows.tolist() == [[6, 7], [5, 7], [5, 6]]
    assert positions.tolist() == [2, 3]
    rows, positions = occluded(np.zeros(0, dtype=np.int64), max_len=2)
    assert rows.tolist() == [[0, 0]] and positions.tolist() == []


class PairTable(nn.Module):
    """Score of candidate c after history h: sum of W[h_j, c] (padding contributes 0)."""

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(weights, dtype=torch.float32))

    def pair_scorer(self):
        def score(history, candidates):
            rows = self.w[history]  # (B, L, n_tokens)
            return rows.sum(1).gather(1, candidates)
        return score


def test_drops_are_the_removed_items_contributions() -> None:
    w = np.zeros((6, 6))
    w[1, 4], w[2, 4], w[3, 4] = 0.5, 2.0, -1.0  # item 3 works against recommending 4
    w[1, 5], w[2, 5] = 3.0, 0.1
    model = PairTable(w)
    histories = [np.array([1, 2, 3]), np.array([2, 2]), np.array([3])]
    top = np.array([[4, 5], [5, 0], [4, 5]])
    kwargs = dict(keep=2, max_len=3, device=torch.device("cpu"))
    reasons = occlusion_reasons(model, histories, top, **kwargs)
    assert reasons[0] == [Reason(1, 1, 2, 2.0), Reason(1, 0, 1, 0.5),
                          Reason(2, 0, 1, 3.0), Reason(2, 1, 2, pytest.approx(0.1))]
    assert [(r.rank, r.item) for r in reasons[1]] == [(1, 2), (1, 2)]  # empty slot: nothing
    assert reasons[2] == []  # removing 3 only raises the scores
    one_at_a_time = occlusion_reasons(model, histories, top, batch_rows=1, **kwargs)
    assert one_at_a_time == reasons
    assert explain(model, histories[0], top[0], max_len=3, keep=1) == [
        Reason(1, 1, 2, 2.0), Reason(2, 0, 1, 3.0)]


def explanations(store, run_id: str) -> list[tuple]:
    return store.query("SELECT method, count(*), count(DISTINCT user_id), min(weight) > 0, "
                       "max(rank) FROM explanations WHERE run_id = ? GROUP BY method",
                       [run_id])[1]


def test_sasrec_is_explained_by_occlusion(run_recipe, tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "train.epochs=1", "output.explain_users=10")
    outcomes, store = run_recipe(recipe)
    [(method, rows, users, positive, max_rank)] = explanations(store, outcomes[0].run_id)
    assert (method, users, positive, max_rank) == ("occlusion", 10, True, 5)
    assert rows <= 10 * 5 * 5
    # every explaining item is in the user's history
    _, outside = store.query("""
        SELECT count(*) FROM explanations e JOIN runs r USING (run_id)
        WHERE e.run_id = ? AND NOT EXISTS (SELECT 1 FROM interactions i
            WHERE i.data_key = r.data_key AND i.user_id = e.user_id
              AND i.item_id = e.history_item_id AND i.split <> 'test')""",
        [outcomes[0].run_id])
    assert outside == [(0,)]


def test_bert4rec_and_target_attention_by_occlusion(run_recipe, tmp_path: Path) -> None:
    bert = tiny(tmp_path / "bert", "train.epochs=1", "output.explain_users=5",
                "model.encoders.user={plugin: bert4rec, params: {layers: 1, heads: 1, dim: 16, "
                "max_len: 16}}")
    outcomes, store = run_recipe(bert)
    assert [r[:3] for r in explanations(store, outcomes[0].run_id)] == [
        ("occlusion", pytest.approx(5 * 5 * 5, abs=125), 5)]
    attention = tiny(tmp_path / "att", "train.epochs=1", "output.explain_users=4",
                     "output.explain=occlusion", "output.explain_top=2",
                     "model.fusion={plugin: target_attention}",
                     "model.scorer={plugin: mlp, params: {negatives: 4, positions: 4}}")
    outcomes, store = run_recipe(attention)
    [(method, rows, users, _, _)] = explanations(store, outcomes[0].run_id)
    assert (method, users) == ("occlusion", 4) and rows <= 4 * 5 * 2


def test_explain_switch(run_recipe, tmp_path: Path) -> None:
    _, store = run_recipe(tiny(tmp_path / "none", "train.epochs=1", "output.explain=none",
                               "baselines=[{plugin: popularity}]"))
    assert store.query("SELECT count(*) FROM explanations")[1] == [(0,)]
    with pytest.raises(RecsysKitError, match=r"output\.explain is 'attention'"):
        run_recipe(tiny(tmp_path / "bad", "output.explain=attention"))
    _, trained = ResultStore.in_dir(tmp_path / "bad").query(
        "SELECT count(*) FROM metrics WHERE split = 'train'")
    assert trained == [(0,)]  # refused before training


def test_occlusion_explains_the_first_users_as_the_tui_lists_them() -> None:
    ids = np.array(["10", "2", "b", "1", "a", "100"])
    assert ids[first_users(ids, 3)].tolist() == ["10", "2", "1"]  # token order kept
    assert ids[first_users(ids, 5)].tolist() == ["10", "2", "1", "a", "100"]
    assert first_users(ids, None).tolist() == [0, 1, 2, 3, 4, 5]
