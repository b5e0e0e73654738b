"""Recommending from a loaded run: the same top-K the run stored, known users, fresh
histories, explanations, new items from their text, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import recsys_kit
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.encoders.categorical import CategoricalEmbedding
from recsys_kit.serving.errors import RequestError, UnknownUser
from recsys_kit.serving.new_items import category_rows
from recsys_kit.serving.recommender import LoadedRun
from tests.serving.conftest import Trained

USERS = ["1", "7", "42", "120"]


def load(trained: Trained, run_id: str | None = None) -> LoadedRun:
    return recsys_kit.load_run(run_id or trained.run_id, results=trained.results, device="cpu")


def stored(trained: Trained, run_id: str, user: str) -> list[tuple[str, float]]:
    _, rows = trained.store.query("SELECT item_id, score FROM recommendations WHERE run_id = ? "
                                  "AND user_id = ? ORDER BY rank", [run_id, user])
    return rows


def assert_same_top(run: LoadedRun, trained: Trained, run_id: str) -> None:
    """The run's stored top-K were ranked from each user's history up to validation: ranking
    that history again gives the same items and scores."""
    for user in USERS:
        history = run.history_of(user)[:-1]  # the test item is the last one
        expected = stored(trained, run_id, user)
        got = run.recommend(history=history, k=len(expected))
        assert [r.item_id for r in got.items] == [item for item, _ in expected]
        np.testing.assert_allclose([r.score for r in got.items], [s for _, s in expected],
                                   rtol=1e-4, atol=1e-5)


def test_a_loaded_run_recommends_what_it_stored(sasrec_run: Trained) -> None:
    assert_same_top(load(sasrec_run), sasrec_run, sasrec_run.run_id)


@pytest.mark.parametrize("which", [0, 1], ids=["popularity", "gru4rec"])
def test_baselines_and_plugin_models_load_like_any_run(sasrec_run: Trained, which: int) -> None:
    run_id = sasrec_run.baselines[which]
    assert_same_top(load(sasrec_run, run_id), sasrec_run, run_id)


def test_a_known_user_gets_unseen_items_from_their_whole_history(sasrec_run: Trained) -> None:
    run = load(sasrec_run)
    recs = run.recommend(user="7", k=10)
    seen = set(run.history_of("7"))
    assert recs.user_id == "7" and recs.history_length == len(run.history_of("7"))
    assert len(recs.items) == 10 and not seen & {r.item_id for r in recs.items}
    assert [r.rank for r in recs.items] == list(range(1, 11))
    scores = [r.score for r in recs.items]
    assert scores == sorted(scores, reverse=True)
    assert all(r.title for r in recs.items)  # synthetic items have titles


def test_fresh_behaviour_is_read_after_the_users_history(sasrec_run: Trained) -> None:
    run = load(sasrec_run)
    fresh = [i for i in run.item_ids[:3] if i not in run.history_of("7")]
    both = run.recommend(user="7", history=fresh, k=5)
    assert both.history_length == len(run.history_of("7")) + len(fresh)
    assert not set(fresh) & {r.item_id for r in both.items}
    same = run.recommend(history=[*run.history_of("7"), *fresh], k=5)
    assert [r.item_id for r in same.items] == [r.item_id for r in both.items]


def test_many_users_at_once_match_one_at_a_time(sasrec_run: Trained) -> None:
    run = load(sasrec_run)
    many = run.recommend_many(USERS, k=5, batch_size=3)
    for user, recs in zip(USERS, many, strict=True):
        one = run.recommend(user=user, k=5)
        assert [r.item_id for r in recs.items] == [r.item_id for r in one.items]


def test_bad_requests_say_what_to_send(sasrec_run: Trained) -> None:
    run = load(sasrec_run)
    with pytest.raises(UnknownUser, match="does not know user 'nobody'") as unknown:
        run.recommend(user="nobody")
    # The answer names no real user: anyone may ask, and could then ask about them.
    assert not any(f"'{user}'" in str(unknown.value) for user in run.data.user_ids[:50])
    with pytest.raises(RequestError, match="history is empty"):
        run.recommend(history=[])
    with pytest.raises(RequestError, match=r"'no-such-item'.*no text_embedding"):
        run.recommend(history=["1", "no-such-item"])
    with pytest.raises(RequestError, match="k must be a whole number from 1 to 60"):
        run.recommend(user="1", k=61)
    with pytest.raises(RequestError, match="cannot be scored: this run has no text_embedding"):
        run.recommend(history=["1"], new_items=[{"item_id": "new", "title": "x"}])
    kept = run.recommend(history=["1", "no-such-item"], ignore_unknown=True)
    assert kept.unknown_items == ["no-such-item"] and kept.history_length == 1
    with pytest.raises(RequestError, match="No item of the history is known"):
        run.recommend(history=["no-such-item"], ignore_unknown=True)


def test_only_completed_runs_load(sasrec_run: Trained) -> None:
    with pytest.raises(RecsysKitError, match="There is no run 'missing'"):
        recsys_kit.load_run("missing", results=sasrec_run.results)
    assert recsys_kit.load_run("latest", results=sasrec_run.results).run_id == sasrec_run.run_id


def test_explanations_are_the_attention_weights_the_run_stored(attention_run: Trained) -> None:
    run = load(attention_run)
    assert run.explain_method == "attention"
    assert_same_top(run, attention_run, attention_run.run_id)
    for user in USERS:
        recs = run.recommend(history=run.history_of(user)[:-1], k=5, explain=True)
        assert recs.explain_method == "attention"
        _, rows = attention_run.store.query(
            "SELECT rank, history_item_id, weight FROM explanations WHERE run_id = ? AND "
            "user_id = ? AND rank <= 5 ORDER BY rank, weight DESC", [attention_run.run_id, user])
        got = [(r.rank, why.history_item_id, why.weight) for r in recs.items
               for why in r.explanation]
        assert [g[:2] for g in got] == [r[:2] for r in rows]
        np.testing.assert_allclose([g[2] for g in got], [r[2] for r in rows], rtol=1e-4)


def test_runs_without_attention_explain_by_occlusion_as_the_run_stored(
        sasrec_run: Trained) -> None:
    run = load(sasrec_run)
    assert run.explain_method == "occlusion"
    for user in ("1", "7", "42"):  # the run explains its first 100 users (output.explain_users)
        recs = run.recommend(history=run.history_of(user)[:-1], k=5, explain=True)
        assert recs.explain_method == "occlusion" and recs.note is None
        _, rows = sasrec_run.store.query(
            "SELECT rank, history_item_id, weight FROM explanations WHERE run_id = ? AND "
            "user_id = ? AND rank <= 5 AND method = 'occlusion' ORDER BY rank, weight DESC",
            [sasrec_run.run_id, user])
        got = [(r.rank, why.history_item_id, why.weight) for r in recs.items
               for why in r.explanation]
        assert rows and [g[:2] for g in got] == [r[:2] for r in rows]
        np.testing.assert_allclose([g[2] for g in got], [r[2] for r in rows], rtol=1e-3)


def _copy_of(run: LoadedRun, item_id: str, new_id: str) -> dict[str, str]:
    """A catalogue item described as a new one: same side columns, another id."""
    token = int(np.flatnonzero(run.item_ids == item_id)[0])
    return {"item_id": new_id, **{c: str(run.data.item_side[c][token])
                                  for c in ("title", "genres")}}


@pytest.mark.parametrize("fixture", ["text_run", "attention_run"])
def test_a_new_item_is_scored_from_its_text(request: pytest.FixtureRequest,
                                            fixture: str) -> None:
    """With item vectors from text alone, a new item with a catalogue item's text scores as
    that item does: it was embedded by the run's own language model and adaptor."""
    trained: Trained = request.getfixturevalue(fixture)
    run = load(trained)
    assert run.accepts_new_items
    history = run.history_of("3")
    candidate = next(i for i in run.item_ids if i not in history)
    recs = run.recommend(user="3", k=len(run.item_ids) - len(set(history)) + 1,
                         new_items=[_copy_of(run, candidate, "brand-new")])
    scores = {r.item_id: r.score for r in recs.items}
    assert scores["brand-new"] == pytest.approx(scores[candidate], rel=1e-4, abs=1e-5)
    title = next(r.title for r in recs.items if r.item_id == "brand-new")
    assert title == _copy_of(run, candidate, "x")["title"]


def test_a_new_item_in_the_history_is_read_and_not_recommended(mixed_run: Trained) -> None:
    run = load(mixed_run)
    new = [{"item_id": "n1", "title": "Silent Galaxy Tales 9, part 1", "genres": "space"},
           {"item_id": "n2", "title": "Quiet Kitchen Notes", "genres": "cooking|unknown"}]
    recs = run.recommend(history=["1", "n1"], new_items=new, k=61)
    ids = [r.item_id for r in recs.items]
    assert "n1" not in ids and "n2" in ids and "1" not in ids and len(ids) == 60
    assert recs.history_length == 2 and all(np.isfinite(r.score) for r in recs.items)
    without = run.recommend(history=["1"], k=5)
    assert [r.item_id for r in without.items] != [r.item_id for r in
                                                  run.recommend(history=["1", "n1"],
                                                                new_items=new, k=5).items]


def test_occlusion_weighs_a_new_item_in_the_history(text_run: Trained) -> None:
    # Occlusion scored with the run's own item table, not the one with the new item: the new
    # item got no weight and the other item got the new one's.
    run = load(text_run)
    new = [_copy_of(run, run.item_ids[5], "n1")]
    both = run.recommend(history=["1", "n1"], new_items=new, k=3, explain=True)
    top = both.items[0]
    alone = {h[0]: run.recommend(history=h, new_items=new, k=len(run.item_ids) + 1)
             for h in (["1"], ["n1"])}
    drop = {item: top.score - next(r.score for r in recs.items if r.item_id == top.item_id)
            for item, recs in (("n1", alone["1"]), ("1", alone["n1"]))}
    weights = {why.history_item_id: why.weight for why in top.explanation}
    assert weights == pytest.approx({item: d for item, d in drop.items() if d > 0}, rel=1e-3,
                                    abs=1e-4)


def test_new_items_must_carry_text_and_known_columns(text_run: Trained) -> None:
    run = load(text_run)
    with pytest.raises(RequestError, match="has no text: give at least one of genres, title"):
        run.recommend(user="1", new_items=[{"item_id": "n", "title": " "}])
    with pytest.raises(RequestError, match=r"unknown column.*colour"):
        run.recommend(user="1", new_items=[{"item_id": "n", "title": "t", "colour": "red"}])
    with pytest.raises(RequestError, match="already in the run's catalogue"):
        run.recommend(user="1", new_items=[{"item_id": "1", "title": "t"}])
    with pytest.raises(RequestError, match="Describe items the run was not trained on"):
        run.recommend(history=["1", "n"])


def test_a_new_items_categories_get_the_learned_category_vectors(mixed_run: Trained) -> None:
    run = load(mixed_run)
    encoder, settings = next((e, s) for e, s in zip(run.model.items, run.new_items.settings,
                                                    strict=True)
                             if isinstance(e, CategoricalEmbedding))
    genres = run.data.item_side["genres"][:4]
    with torch.no_grad():
        rows = category_rows(encoder, genres, settings.separator)
        torch.testing.assert_close(rows, encoder.table()[1:5])
        assert category_rows(encoder, np.array(["no-such-genre"]), "|").abs().sum() == 0


@pytest.mark.gpu
@pytest.mark.parametrize("attention", [False, True], ids=["sasrec", "two-stage-attention"])
def test_a_cuda_run_serves_on_cuda_what_it_stored(tmp_path_factory: pytest.TempPathFactory,
                                                  tiny_bert: object, attention: bool) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    from tests.serving.conftest import text_tokenizer, train

    extra = [text_tokenizer(tiny_bert), "model.encoders.item=[{plugin: text_embedding}]",
             "model.fusion={plugin: target_attention}", "model.scorer={plugin: mlp, params: "
             "{loss: bce}}", "model.retrieval={plugin: dot}", "model.rerank_top_n=60"
             ] if attention else []
    trained = train(tmp_path_factory.mktemp("cuda") / "runs", "device=cuda", *extra)
    run = recsys_kit.load_run(trained.run_id, results=trained.results, device="cuda")
    assert run.device.type == "cuda"
    assert_same_top(run, trained, trained.run_id)
    recs = run.recommend(user="1", k=5, explain=attention,
                         new_items=[_copy_of(run, "1", "n")] if attention else None)
    assert len(recs.items) == 5
