"""Fusion modules: from encoder states to the vector the scorer compares with items."""

from __future__ import annotations

import torch

from recsys_kit.nn.model import Fusion, ModelShape
from recsys_kit.stages import NoParams


class LastPosition(Fusion):
    """Histories are left-padded, so the last position holds the most recent item's state."""

    def user_state(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """State of the latest item (B, D)."""
        return states[:, -1]


def build_last_position(config: NoParams, shape: ModelShape) -> LastPosition:
    """Last-position fusion."""
    return LastPosition()
