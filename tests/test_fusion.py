"""Target attention, the MLP scorer, two-stage ranking, explanations and thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys_kit.builtin.fusion import TargetAttentionConfig
from recsys_kit.builtin.scorers import MlpConfig
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.encoders.embeddings import IdEmbedding
from recsys_kit.nn.encoders.sasrec import build_sasrec
from recsys_kit.nn.fusion.pairwise import PairwiseRecommender
from recsys_kit.nn.fusion.target_attention import TargetAttention
from recsys_kit.nn.heads.dot import Dot
from recsys_kit.nn.heads.mlp import MlpScorer
from recsys_kit.nn.model import ModelShape
from recsys_kit.testing import tiny

DIM = 8
TWO_STAGE = ["model.fusion={plugin: target_attention, params: {explain_top: 3}}",
             "model.scorer={plugin: mlp, params: {negatives: 4, positions: 4}}",
             "model.retrieval={plugin: dot}", "model.rerank_top_n=20"]


def attention() -> TargetAttention:
    torch.manual_seed(0)
    shape = ModelShape(n_items=10, dim=DIM, max_len=6, item_counts=np.zeros(11))
    return TargetAttention(TargetAttentionConfig(), shape)


def test_weights_sum_to_one_over_valid_positions_and_skip_padding() -> None:
    fusion = attention()
    states = torch.randn(2, 6, DIM)
    valid = torch.tensor([[False, False, True, True, True, True], [True] * 6])
    candidates = torch.randn(2, 1, 3, DIM)
    _, weights = fusion.attend(states, valid, candidates)
    assert weights.shape == (2, 1, 3, 6)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1, 3))
    assert torch.all(weights[0, :, :, :2] == 0)


def test_padding_content_does_not_change_the_result() -> None:
    fusion = attention()
    states = torch.randn(1, 6, DIM)
    valid = torch.tensor([[False, False, True, True, True, True]])
    candidates = torch.randn(1, 1, 2, DIM)
    fused, weights = fusion.attend(states, valid, candidates)
    noisy = states.clone()
    noisy[:, :2] = 1e3
    fused_noisy, weights_noisy = fusion.attend(noisy, valid, candidates)
    assert torch.allclose(fused, fused_noisy) and torch.allclose(weights, weights_noisy)


def test_a_training_point_sees_only_positions_up_to_its_own() -> None:
    fusion = attention()
    states = torch.randn(1, 6, DIM)
    valid = torch.ones(1, 6, dtype=torch.bool)
    upto = torch.tensor([[2, 5]])
    _, weights = fusion.attend(states, valid, torch.randn(1, 2, 3, DIM), upto)
    assert torch.all(weights[0, 0, :, 3:] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 2, 3))
    later = states.clone()
    later[:, 3:] = torch.randn(1, 3, DIM)
    fused_a, _ = fusion.attend(states, valid, torch.ones(1, 2, 3, DIM), upto)
    fused_b, _ = fusion.attend(later, valid, torch.ones(1, 2, 3, DIM), upto)
    assert torch.allclose(fused_a[0, 0], fused_b[0, 0])  # the future cannot leak in


def test_rating_features_skip_unrated_positions() -> None:
    fusion = attention()
    states = torch.randn(1, 4, DIM)
    valid = torch.ones(1, 4, dtype=torch.bool)
    ratings = torch.tensor([[4.0, float("nan"), 2.0, 4.0]])
    fused, _ = fusion.attend(states, valid, torch.randn(1, 1, 1, DIM), None, ratings)
    assert torch.isfinite(fused).all()
    assert fused[0, 0, 0, -1].item() == pytest.approx(10 / 3)  # plain mean of rated items


def pairwise(loss: str = "bce", retrieval: bool = True) -> PairwiseRecommender:
    torch.manual_seed(0)
    shape = ModelShape(n_items=30, dim=DIM, max_len=6, item_counts=np.ones(31),
                       rating_mean=3.5)
    from recsys_kit.builtin.encoders import IdEmbeddingConfig, TransformerConfig
    from recsys_kit.builtin.scorers import DotConfig

    fusion = TargetAttention(TargetAttentionConfig(), shape)
    shape.fused_width = fusion.width
    return PairwiseRecommender(
        [IdEmbedding(IdEmbeddingConfig(), shape)],
        build_sasrec(TransformerConfig(layers=1, dim=DIM, max_len=6), shape),
        fusion, MlpScorer(MlpConfig(loss=loss, positions=3, negatives=2), shape), None, 30,
        Dot(DotConfig(), shape) if retrieval else None, top_n=5,
    ).eval()


def test_two_stage_scores_only_the_retrieved_unseen_candidates() -> None:
    model = pairwise()
    history = torch.tensor([[0, 0, 1, 2, 3, 4]])
    with torch.no_grad():
        scores = model.scores(history)
    finite = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    assert len(finite) == 5 and not set(finite) & {0, 1, 2, 3, 4, 31}
    with torch.no_grad():
        again = model.pair_scores(history, torch.tensor([finite]))
    assert torch.allclose(again, scores[0, finite][None], atol=1e-5)


def test_two_stage_candidates_skip_every_seen_item_not_only_the_window() -> None:
    from recsys_kit.nn.ranking.rank import rank

    model = pairwise()
    history = np.arange(1, 21)  # 20 seen items, the model reads the last 6
    ranking = rank(model, [history], [np.array([25])], k=5, max_len=6, batch_size=4,
                   device=torch.device("cpu"))
    assert (ranking.items != 0).all()  # all 5 candidate slots went to unseen items
    assert not set(ranking.items[0].tolist()) & set(history.tolist())
    cold = np.zeros(32, dtype=bool)
    cold[[22, 24, 26]] = True
    only_cold = rank(model, [history], [np.array([24])], k=5, max_len=6, batch_size=4,
                     device=torch.device("cpu"), candidates=cold)
    assert sorted(only_cold.items[0][only_cold.items[0] != 0].tolist()) == [22, 24, 26]


def test_two_stage_training_negatives_come_from_the_retrieved_candidates() -> None:
    model = pairwise()
    history = torch.tensor([[0, 0, 1, 2, 3, 4]])
    with torch.no_grad():
        table = model.item_table()
        states, _ = model.encode(history, table)
        upto = torch.tensor([[3, 5]])
        negatives = model._negatives(states, upto, table, 50)
        for p, position in enumerate(upto[0].tolist()):
            top = model.retrieval.logits(states[:, position], table).topk(5).indices
            assert set(negatives[0, p].tolist()) <= set(top[0].tolist())
    assert pairwise(retrieval=False)._negatives(states, upto, table, 50).max() <= 30


def test_two_stage_score_is_the_retrieval_logit_plus_the_re_ranker_logit() -> None:
    model = pairwise()
    history = torch.tensor([[0, 0, 1, 2, 3, 4]])
    with torch.no_grad():
        torch.nn.init.zeros_(model.scorer.net[-1].weight)
        torch.nn.init.zeros_(model.scorer.net[-1].bias)
        scores = model.scores(history)
        table = model.item_table()
        states, _ = model.encode(history, table)
        first = model.retrieval.logits(states[:, -1], table)
    kept = torch.isfinite(scores[0])
    assert torch.allclose(scores[0, kept], first[0, kept])


def test_single_stage_scores_the_whole_catalogue() -> None:
    model = pairwise(retrieval=False)
    with torch.no_grad():
        scores = model.scores(torch.tensor([[0, 0, 1, 2, 3, 4]]))
    assert torch.isfinite(scores[0, 1:31]).all()
    assert scores[0, 0] == -torch.inf and scores[0, 31] == -torch.inf


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_pairwise_loss_trains(loss: str) -> None:
    model = pairwise(loss).train()
    history = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 0, 0, 7, 8, 9]])
    targets = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 0, 8, 9, 10]])
    ratings = torch.tensor([[5.0, 4, 5, 4, 5, 4], [0, 0, 0, 1, 2, 1]])
    extra = {"ratings": ratings, "target_ratings": ratings.roll(-1, 1)} if loss == "mse" else {}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(history, targets, **extra).item()
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(history, targets, **extra).backward()
        optimizer.step()
    assert model.loss(history, targets, **extra).item() < first


def test_mse_scorer_predicts_the_mean_before_training() -> None:
    shape = ModelShape(n_items=3, dim=DIM, max_len=4, item_counts=np.ones(4), rating_mean=3.5,
                       fused_width=6)
    scorer = MlpScorer(MlpConfig(loss="mse"), shape)
    torch.nn.init.zeros_(scorer.net[-1].weight)
    torch.nn.init.zeros_(scorer.net[-1].bias)
    assert torch.allclose(scorer.pair_logits(torch.randn(2, 6)), torch.full((2,), 3.5))
    assert scorer.interest(torch.tensor([4.2])).item() == pytest.approx(4.2)
    bce = MlpScorer(MlpConfig(loss="bce"), shape)
    assert bce.interest(torch.tensor([0.0])).item() == 0.5


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_pair_loss_is_the_mean_over_the_counted_pairs(loss: str) -> None:
    shape = ModelShape(n_items=3, dim=DIM, max_len=4, item_counts=np.ones(4), rating_mean=3.5,
                       fused_width=6)
    scorer = MlpScorer(MlpConfig(loss=loss), shape)
    logits = torch.randn(4, 5, requires_grad=True)
    labels = torch.randint(0, 2, (4, 5)).float() if loss == "bce" else torch.rand(4, 5) * 5
    weight = torch.rand(4, 5) > 0.4
    labels[~weight] = float("nan")  # unrated pairs: never counted, never NaN in the loss
    ours = scorer.pair_loss(logits, labels, weight)
    fn = (torch.nn.functional.mse_loss if loss == "mse"
          else torch.nn.functional.binary_cross_entropy_with_logits)
    assert ours.item() == pytest.approx(fn(logits[weight], labels[weight]).item(), rel=1e-6)
    ours.backward()
    assert logits.grad[~weight].abs().sum() == 0 and logits.grad.isfinite().all()
    none = scorer.pair_loss(logits, labels, torch.zeros_like(weight))
    assert none.item() == 0 and none.requires_grad


def test_two_stage_recipe_stores_explanations_of_stored_recommendations(tmp_path: Path,
                                                                         run_recipe) -> None:
    outcomes, store = run_recipe(tiny(tmp_path / "runs", *TWO_STAGE))
    run_id = outcomes[0].run_id
    _, rows = store.query(
        "SELECT count(*), count(DISTINCT user_id), max(rank) FROM explanations WHERE run_id = ?",
        [run_id])
    n, users, max_rank = rows[0]
    assert n > 0 and users == 120 and max_rank == 5
    _, sums = store.query(
        "SELECT max(s), max(n) FROM (SELECT user_id, rank, sum(weight) s, count(*) n "
        "FROM explanations WHERE run_id = ? GROUP BY ALL)", [run_id])
    assert sums[0][0] <= 1.0 + 1e-6 and sums[0][1] == 3
    _, orphans = store.query(
        "SELECT count(*) FROM explanations e ANTI JOIN recommendations r "
        "USING (run_id, user_id, rank) WHERE e.run_id = ?", [run_id])
    assert orphans[0][0] == 0
    _, seen = store.query(
        "SELECT count(*) FROM explanations e ANTI JOIN interactions i "
        "ON i.user_id = e.user_id AND i.item_id = e.history_item_id WHERE e.run_id = ?",
        [run_id])
    assert seen[0][0] == 0  # every "why" item is in the user's history


def test_threshold_keeps_only_recommendations_above_it(tmp_path: Path, run_recipe) -> None:
    recipe = tiny(tmp_path / "runs", *TWO_STAGE)
    outcomes, store = run_recipe(recipe)
    sql = "SELECT count(*), median(score), min(score) FROM recommendations WHERE run_id = ?"
    everything, median, _ = store.query(sql, [outcomes[0].run_id])[1][0]
    outcomes, store = run_recipe(recipe, [f"output.threshold={median}"])
    kept, _, low = store.query(sql, [outcomes[0].run_id])[1][0]
    assert 0 < kept < everything and low > median


@pytest.mark.parametrize(("override", "message"), [
    ("model.scorer={plugin: dot}", "needs a pairwise scorer"),
    ("model.encoders.user={plugin: bert4rec, params: {dim: 16, max_len: 16}}", "masked items"),
])
def test_mismatched_fusion_and_scorer_name_the_fix(tmp_path: Path, run_recipe, override: str,
                                                  message: str) -> None:
    recipe = tiny(tmp_path / "runs", *TWO_STAGE, override)
    with pytest.raises(RecsysKitError, match=message):
        run_recipe(recipe)


def test_retrieval_without_a_pairwise_fusion_is_an_error(tmp_path: Path, run_recipe) -> None:
    with pytest.raises(RecsysKitError, match=r"model\.retrieval \(two-stage"):
        run_recipe(tiny(tmp_path / "runs", "model.retrieval={plugin: dot}"))


def test_a_pairwise_retrieval_stage_is_an_error(tmp_path: Path, run_recipe) -> None:
    with pytest.raises(RecsysKitError, match="Use dot"):
        run_recipe(tiny(tmp_path / "runs", *TWO_STAGE, "model.retrieval={plugin: mlp}"))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("encoder", ["sasrec", "bert4rec"])
def test_large_model_recipes_on_each_device(tiny_bert: Path, tmp_path: Path, run_recipe,
                                            encoder: str, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    text = [f"data.tokenize=[{{plugin: item_ids}}, {{plugin: hf_text, params: {{model: "
            f"'{tiny_bert}', template: '{{title}} | {{genres}}'}}}}]",
            "model.encoders.item=[{plugin: id_embedding}, {plugin: text_embedding}, "
            "{plugin: categorical, params: {column: genres}}]", "model.encoders.combine=gate",
            f"device={device}"]
    pairing = TWO_STAGE if encoder == "sasrec" else [
        "model.encoders.user={plugin: bert4rec, params: {dim: 16, max_len: 16}}"]
    outcomes, store = run_recipe(tiny(tmp_path / "runs", *text, *pairing))
    assert outcomes[0].status == "completed"
    assert store.query("SELECT device FROM runs")[1][0][0].startswith(device)


def test_rerank_top_n_below_the_cut_offs_fails_validation(tmp_path: Path) -> None:
    from recsys_kit.errors import RecipeError
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping

    recipe = tiny(tmp_path / "runs", *TWO_STAGE, "model.rerank_top_n=8")
    with pytest.raises(RecipeError, match="at least 10"):
        validate_mapping(recipe, make_plugins().registry)


def test_two_evaluators_reporting_the_same_metric_fail_validation(tmp_path: Path) -> None:
    from recsys_kit.errors import RecipeError
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping

    recipe = tiny(tmp_path / "runs", "evaluate=[{plugin: ranking, params: {k: [5, 10]}}, "
                  "{plugin: ranking, params: {k: [10], test_candidates: cold}}]")
    with pytest.raises(RecipeError, match=r"ndcg@10.*evaluate\[0\]"):
        validate_mapping(recipe, make_plugins().registry)


def test_mse_batch_without_any_rated_target_gives_a_zero_loss() -> None:
    model = pairwise("mse", retrieval=False).train()
    history = torch.tensor([[0, 1, 2, 3, 4, 5]])
    targets = torch.tensor([[1, 2, 3, 4, 5, 6]])
    unrated = torch.full((1, 6), float("nan"))
    loss = model.loss(history, targets, ratings=unrated, target_ratings=unrated)
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
