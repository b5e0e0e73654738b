"""Tests of the gru4rec user encoder: registration, config, padding and a whole run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from recsys_kit_gru4rec.model import Gru4Rec, build_gru4rec
from recsys_kit_gru4rec.stages import Gru4RecConfig

from recsys_kit.api import Family, ModelShape, RecipeError, UserEncoder
from recsys_kit.plugins import Plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.testing import tiny

DIST = "recsys-kit-gru4rec"


def encoder(**params: Any) -> Gru4Rec:
    """A seeded encoder in eval mode (no dropout), built through the stage's factory."""
    torch.manual_seed(0)
    config = Gru4RecConfig.model_validate(params)
    shape = ModelShape(n_items=10, dim=config.dim, max_len=config.max_len,
                       item_counts=torch.zeros(10).numpy())
    return build_gru4rec(config, shape).eval()


def left_pad(history: torch.Tensor, length: int, fill: float = 0.0) -> tuple[torch.Tensor, ...]:
    """``history`` (n, D) left-padded to (1, length, D) with ``fill``, and its valid mask."""
    n, dim = history.shape
    items = torch.full((1, length, dim), fill)
    items[0, length - n:] = history
    valid = torch.zeros(1, length, dtype=torch.bool)
    valid[0, length - n:] = True
    return items, valid


# -- registration ---------------------------------------------------------------------------


def test_registered_through_the_entry_point(isolated_plugins: Plugins) -> None:
    spec = isolated_plugins.registry.get(Family.USER_ENCODER, "gru4rec")
    assert spec.distribution == DIST
    assert spec.version == "0.1.0"
    assert spec.config is Gru4RecConfig
    assert spec.factory == "recsys_kit_gru4rec.model:build_gru4rec"
    assert spec.description
    assert not [f for f in isolated_plugins.failures if f.distribution == DIST]


def test_every_param_is_described() -> None:
    assert set(Gru4RecConfig.model_fields) == {"dim", "layers", "dropout", "max_len"}
    for name, info in Gru4RecConfig.model_fields.items():
        assert info.description, name


# -- config ---------------------------------------------------------------------------------


def test_defaults() -> None:
    config = Gru4RecConfig()
    assert (config.dim, config.layers, config.dropout, config.max_len) == (64, 1, 0.1, 50)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="hidden"):
        Gru4RecConfig.model_validate({"hidden": 32})


@pytest.mark.parametrize("params", [{"dim": 1}, {"layers": 0}, {"dropout": 1.0},
                                    {"max_len": 1}])
def test_config_rejects_bad_values(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Gru4RecConfig.model_validate(params)


def test_recipe_with_a_misspelt_param_names_it(
    isolated_plugins: Plugins, tmp_path: Path
) -> None:
    recipe = tiny(tmp_path / "runs", "model.encoders.user.plugin=gru4rec",
                  "model.encoders.user.params={dim: 16, layer: 2}")
    with pytest.raises(RecipeError) as info:
        validate_mapping(recipe, isolated_plugins.registry)
    text = str(info.value)
    assert "model.encoders.user.params.layer" in text
    assert "Did you mean 'layers'?" in text


# -- the encoder ----------------------------------------------------------------------------


def test_is_a_next_item_user_encoder() -> None:
    model = encoder(dim=8)
    assert isinstance(model, UserEncoder)
    assert model.objective == "next_item"


def test_left_padding_does_not_change_the_states() -> None:
    model = encoder(dim=8, layers=2, max_len=16)
    history = torch.randn(5, 8)
    with torch.no_grad():
        # The same history with 0, 3 and 11 padding positions, padding full of garbage.
        outs = []
        for length, fill in ((5, 0.0), (8, 0.0), (16, 7.5)):
            items, valid = left_pad(history, length, fill)
            outs.append(model(items, valid)[0])
        unpadded, _ = model.gru(history[None])
    for out in outs:
        assert out.shape[1] == 8
        torch.testing.assert_close(out[-5:], unpadded[0])  # every real position
        assert torch.count_nonzero(out[:-5]) == 0  # padding positions are zero
    torch.testing.assert_close(outs[0][-1], outs[2][-1])


def test_a_batch_of_mixed_lengths_equals_each_row_alone() -> None:
    model = encoder(dim=6, max_len=7)
    histories = [torch.randn(n, 6) for n in (7, 1, 4)]
    items = torch.zeros(3, 7, 6)
    valid = torch.zeros(3, 7, dtype=torch.bool)
    for row, history in enumerate(histories):
        items[row, 7 - len(history):] = history
        valid[row, 7 - len(history):] = True
    with torch.no_grad():
        batch = model(items, valid)
        for row, history in enumerate(histories):
            alone, _ = model.gru(history[None])
            torch.testing.assert_close(batch[row, 7 - len(history):], alone[0])


def test_an_empty_history_gives_zero_states() -> None:
    model = encoder(dim=4, max_len=5)
    with torch.no_grad():
        out = model(torch.randn(2, 5, 4), torch.zeros(2, 5, dtype=torch.bool))
    assert out.shape == (2, 5, 4)
    assert torch.count_nonzero(out) == 0


def test_padding_gets_no_gradient() -> None:
    model = encoder(dim=4, max_len=6)
    items, valid = left_pad(torch.randn(3, 4), 6, fill=1.0)
    items.requires_grad_(True)
    model(items, valid).sum().backward()
    assert items.grad is not None
    assert torch.count_nonzero(items.grad[0, :3]) == 0
    assert torch.count_nonzero(items.grad[0, 3:]) > 0


def test_state_depends_only_on_the_past() -> None:
    model = encoder(dim=4, max_len=6)
    history = torch.randn(6, 4)
    changed = history.clone()
    changed[-1] += 1.0  # only the newest item differs
    with torch.no_grad():
        a = model(*left_pad(history, 6))[0]
        b = model(*left_pad(changed, 6))[0]
    torch.testing.assert_close(a[:-1], b[:-1])
    assert not torch.allclose(a[-1], b[-1])


# -- end to end -----------------------------------------------------------------------------


def test_tiny_recipe_runs_with_gru4rec(
    run_recipe: Callable[..., tuple[list, Any]], tmp_path: Path
) -> None:
    recipe = tiny(tmp_path / "runs", "model.encoders.user.plugin=gru4rec",
                  "model.encoders.user.params={dim: 16, max_len: 16, dropout: 0.0}")
    outcomes, store = run_recipe(recipe)
    run_id = outcomes[0].run_id
    assert outcomes[0].status == "completed"
    assert outcomes[0].metrics  # test metrics, e.g. ndcg@10

    _, rows = store.query("SELECT status, best_epoch FROM runs WHERE run_id = ?", [run_id])
    assert rows[0][0] == "completed"
    assert rows[0][1] is not None

    _, rows = store.query(
        "SELECT count(*), count(DISTINCT user_id), max(rank) FROM recommendations "
        "WHERE run_id = ?", [run_id])
    n, users, top = rows[0]
    assert users > 0 and n == users * 5 and top <= 5

    _, rows = store.query(
        "SELECT metric, k, value FROM metrics WHERE run_id = ? AND split = 'test'", [run_id])
    test = {(m, k): v for m, k, v in rows}
    assert ("ndcg", 10) in test and 0.0 <= test[("ndcg", 10)] <= 1.0
    _, rows = store.query(
        "SELECT count(DISTINCT epoch) FROM metrics WHERE run_id = ? AND split = 'train'", [run_id])
    assert rows[0][0] >= 1

    _, rows = store.query(
        "SELECT plugin, distribution, version, params->>'$.dim' FROM run_plugins "
        "WHERE run_id = ? AND recipe_path = 'model.encoders.user'", [run_id])
    assert rows == [("gru4rec", DIST, "0.1.0", "16")]
