"""Differentially private training: exact per-user gradients, DP-SGD through Opacus with ε
logged per epoch, and clear refusals of settings it cannot honour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console

from recsys_kit.errors import PrivacyError, RecipeError
from recsys_kit.nn.batches import mask_items, training_rows
from recsys_kit.plugins import make_plugins
from recsys_kit.privacy.dp.per_sample import PerUserGradients
from recsys_kit.privacy.dp.training import PrivateTraining, check_data
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.recipe.models import TrainPrivacy, TrainSection
from recsys_kit.runner.context import RunContext
from recsys_kit.runner.data_stages import prepare_data
from recsys_kit.runner.modelling import build_model
from recsys_kit.runner.pipeline import Runner
from recsys_kit.testing import tiny

pytest.importorskip("opacus")

DP = "train.privacy={target_epsilon: 8, delta: 1.0e-3}"
TEXT = ["data.tokenize=[{plugin: item_ids}, {plugin: hf_text, params: {model: '%s', "
        "template: '{title} | {genres}', max_length: 16}}]"]


def built(tmp_path: Path, *overrides: str) -> tuple[Any, dict, int]:
    """The model of a tiny recipe (eval mode: no dropout) and its training rows."""
    plugins = make_plugins()
    loaded = validate_mapping(tiny(tmp_path / "runs", *overrides), plugins.registry)
    console = Console(quiet=True)
    data = prepare_data(loaded, tmp_path / "runs" / "cache", console,
                        lambda *_: (lambda: None)).data
    ctx = RunContext("r", loaded, torch.device("cpu"), tmp_path / "runs", plugins, console)
    model, max_len = build_model(ctx, data)
    rows = training_rows(data.sequences(0), max_len, masked=model.masked)
    return model.eval(), rows, max_len


def per_example(model: Any, history: torch.Tensor, targets: torch.Tensor, i: int
                ) -> dict[str, torch.Tensor]:
    """Plain autograd of the model's own loss on one user's row."""
    model.zero_grad()
    model.loss(history[i:i + 1], targets[i:i + 1]).backward()
    return {n: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for n, p in model.named_parameters() if p.requires_grad}


def assert_per_user_gradients_match(model: Any, history: torch.Tensor,
                                    targets: torch.Tensor, max_len: int) -> None:
    losses, grads = PerUserGradients(model, max_len)(history, targets)
    for i in range(len(history)):
        expected = per_example(model, history, targets, i)
        assert set(grads) == set(expected)
        own = model.loss(history[i:i + 1], targets[i:i + 1]).detach()
        assert float(losses[i]) == pytest.approx(float(own), rel=1e-5)
        # float32 rounding, against the user's largest gradient (some are 0 in exact
        # arithmetic, e.g. attention key biases, and only rounding noise in both)
        scale = max(float(g.abs().max()) for g in expected.values())
        assert scale > 1e-4
        for name, g in expected.items():
            assert float((grads[name][i] - g).abs().max()) <= 1e-4 * scale, name


@pytest.mark.parametrize("encoders", [
    [],
    ["model.encoders.item=[{plugin: id_embedding}, {plugin: categorical, params: {column: "
     "genres}}]", "model.encoders.combine=gate"],
], ids=["sasrec-ids", "sasrec-ids-categories-gate"])
def test_per_user_gradients_equal_per_example_autograd(tmp_path: Path, encoders: list) -> None:
    model, rows, max_len = built(tmp_path, *encoders)
    history, targets = (torch.from_numpy(rows[k][:5]) for k in ("history", "targets"))
    assert_per_user_gradients_match(model, history, targets, max_len)


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_per_user_gradients_through_a_text_encoder(tmp_path: Path, tiny_bert: Path,
                                                   mode: str) -> None:
    model, rows, max_len = built(
        tmp_path, TEXT[0] % tiny_bert, "model.encoders.item=[{plugin: id_embedding}, "
        f"{{plugin: text_embedding, params: {{adaptor: moe, experts: 2, mode: {mode}}}}}]")
    history, targets = (torch.from_numpy(rows[k][:3]) for k in ("history", "targets"))
    assert_per_user_gradients_match(model, history, targets, max_len)


def test_per_user_gradients_of_a_masked_model_bert4rec(tmp_path: Path) -> None:
    model, rows, max_len = built(tmp_path, "model.encoders.user={plugin: bert4rec, params: "
                                 "{layers: 1, heads: 1, dim: 16, max_len: 16}}")
    history = torch.from_numpy(rows["history"][:4])
    torch.manual_seed(1)
    masked, targets = mask_items(history, model.user.mask_prob, model.item_table().shape[0] - 1)
    torch.manual_seed(1)
    _, grads = PerUserGradients(model, max_len)(history, history)
    model.user.objective = "next_item"  # reference: the same masked rows, no new mask
    for i in range(len(history)):
        expected = per_example(model, masked, targets, i)
        scale = max(float(g.abs().max()) for g in expected.values())
        for name, g in expected.items():
            assert float((grads[name][i] - g).abs().max()) <= 1e-4 * scale, name


@pytest.mark.parametrize(("model", "device"), [
    ("sasrec", "cpu"),
    ("bert4rec+text", "cpu"),
    pytest.param("sasrec", "cuda", marks=pytest.mark.gpu),
])
def test_a_private_run_logs_epsilon_per_epoch_and_keeps_the_last_weights(
        tmp_path: Path, run_recipe: Any, tiny_bert: Path, model: str, device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    overrides = [f"device={device}"]
    if model == "bert4rec+text":
        overrides += [TEXT[0] % tiny_bert, "model.encoders.item=[{plugin: id_embedding}, "
                      "{plugin: text_embedding, params: {adaptor: linear}}]",
                      "model.encoders.user={plugin: bert4rec, params: {layers: 1, heads: 1, "
                      "dim: 16, max_len: 16}}"]
    outcomes, store = run_recipe(tiny(tmp_path / "runs", DP, "train.epochs=3", *overrides))
    run_id = outcomes[0].run_id
    _, eps = store.query("SELECT epoch, value FROM metrics WHERE run_id = ? AND split = 'train' "
                         "AND metric = 'epsilon' ORDER BY epoch", [run_id])
    assert [e for e, _ in eps] == [1, 2, 3]
    values = [v for _, v in eps]
    assert 0 < values[0] < values[1] < values[2] <= 8.0
    assert values[2] > 7.0  # the noise is calibrated to spend the budget, not far less
    _, best = store.query("SELECT best_epoch, status FROM runs WHERE run_id = ?", [run_id])
    assert best == [(3, "completed")]


def settings(**kw: Any) -> TrainPrivacy:
    return TrainPrivacy(**{"target_epsilon": 4.0, "delta": 1e-5, **kw})


def test_delta_at_or_above_one_over_users_is_refused() -> None:
    with pytest.raises(PrivacyError, match=r"1/users = 1/1,000"):
        check_data(settings(delta=1e-3), TrainSection(batch_size=64), 1000)
    check_data(settings(delta=9e-4), TrainSection(batch_size=64), 1000)


def test_a_batch_as_large_as_the_users_is_refused() -> None:
    with pytest.raises(PrivacyError, match="Poisson sampling"):
        check_data(settings(), TrainSection(batch_size=1000), 1000)


def test_an_unreachable_epsilon_is_refused(tmp_path: Path) -> None:
    model, _, max_len = built(tmp_path)
    train = TrainSection(epochs=50, batch_size=100)
    with pytest.raises(PrivacyError, match="cannot be reached"):
        PrivateTraining(settings(target_epsilon=1e-4, delta=1e-4), train, model, 119, max_len,
                        Console(quiet=True))


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.scorer={plugin: dot, params: {loss: bce}}"], "full-softmax loss"),
    (["model.fusion={plugin: target_attention}", "model.scorer={plugin: mlp}"], "pairwise"),
    (["model.encoders.user={plugin: popularity}"], "not trained by gradient descent"),
])
def test_models_dp_sgd_cannot_protect_are_refused(tmp_path: Path, run_recipe: Any,
                                                  overrides: list, message: str) -> None:
    with pytest.raises(PrivacyError, match=message):
        run_recipe(tiny(tmp_path / "runs", DP, *overrides))


def test_baselines_in_a_private_recipe_are_refused_at_validation() -> None:
    with pytest.raises(RecipeError, match="baselines are computed from the same users"):
        validate_mapping(tiny(Path("runs"), DP, "baselines=[{plugin: popularity}]"),
                         make_plugins().registry)


def test_a_resumed_private_run_goes_on_counting_epsilon(tmp_path: Path) -> None:
    from recsys_kit.store import ResultStore
    from tests.test_lifecycle import StopAt, run_in_process

    recipe = tiny(tmp_path / "runs", DP, "train.epochs=4", "train.precision=fp32")
    [stopped], plugins = run_in_process(recipe, StopAt(2))
    assert stopped.status == "interrupted"
    store = ResultStore.in_dir(tmp_path / "runs")
    [resumed] = Runner(plugins, Console(quiet=True)).resume(stopped.run_id, store.path)
    assert resumed.status == "completed"
    _, eps = store.query("SELECT epoch, value FROM metrics WHERE split = 'train' AND "
                         "metric = 'epsilon' ORDER BY epoch")
    assert [e for e, _ in eps] == [1, 2, 3, 4]
    values = [v for _, v in eps]
    assert values == sorted(values) and values[2] > values[1]  # not counted from zero again
    assert 7.0 < values[3] <= 8.0


def test_resuming_without_privacy_accounts_is_refused(tmp_path: Path) -> None:
    model, rows, max_len = built(tmp_path, DP)
    train = TrainSection(batch_size=16, epochs=2, privacy=settings(target_epsilon=8.0,
                                                                    delta=1e-3))
    private = PrivateTraining(train.privacy, train, model, len(rows["history"]), max_len,
                              Console(quiet=True))
    with pytest.raises(PrivacyError, match="ε already spent is unknown"):
        private.restore({})
    other = PrivateTraining(train.privacy, train.model_copy(update={"epochs": 6}), model,
                            len(rows["history"]), max_len, Console(quiet=True))
    with pytest.raises(PrivacyError, match="noise multiplier"):
        private.restore(other.state())
    private.restore(private.state())
