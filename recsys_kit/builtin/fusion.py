"""Built-in fusion: the state at the last history position is the user."""

from __future__ import annotations

import torch

from recsys_kit.hookspecs import hookimpl
from recsys_kit.nn.model import Fusion, ModelShape
from recsys_kit.stages import Family, NoParams, StageSpec


class LastPosition(Fusion):
    """Histories are left-padded, so the last position holds the most recent item's state."""

    def user_state(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """State of the latest item (B, D)."""
        return states[:, -1]


def build_last_position(config: NoParams, shape: ModelShape) -> LastPosition:
    """Last-position fusion."""
    return LastPosition()


@hookimpl
def register_stages() -> list:
    """The built-in fusion stages."""
    return [
        StageSpec(Family.FUSION, "last_position", NoParams, build_last_position,
                  "The state at the most recent history position."),
    ]
