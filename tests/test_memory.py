"""Models that cannot fit the device are refused up front, naming the number and settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_kit.errors import RecsysKitError
from recsys_kit.testing import tiny


@pytest.mark.parametrize(("override", "culprit"), [
    ("model.encoders.user.params.max_len=1000000000", "positions.weight (1000000000, 16)"),
    ("model.encoders.user.params.dim=100000", "qkv.weight (300000, 100000)"),
    ("model.encoders.user.params.max_len=50000", "activations of one batch"),
])
def test_a_model_too_big_for_the_device_is_refused_before_allocating(
        run_recipe, tmp_path: Path, override: str, culprit: str) -> None:
    with pytest.raises(RecsysKitError) as info:
        run_recipe(tiny(tmp_path / "runs", override))
    message = str(info.value)
    assert "Nothing was allocated" in message and culprit in message
    assert "GiB free" in message and "train.batch_size" in message
