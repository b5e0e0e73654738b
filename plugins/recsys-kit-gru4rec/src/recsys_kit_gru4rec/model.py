"""The GRU4Rec network: a GRU over the left-padded item history."""

from __future__ import annotations

import torch
from torch import nn

from recsys_kit.api import ModelShape, UserEncoder
from recsys_kit_gru4rec.stages import Gru4RecConfig


class Gru4Rec(UserEncoder):
    """A GRU over the history; the state after each item is that position's output.

    Histories arrive left-padded (padding first, then the real items oldest to newest). A GRU
    read left to right would start in the padding, and a GRU step over a zero input still
    moves the state (its biases), so the amount of padding would change the result. Instead
    each row is rotated so that its real items come first, the GRU runs over the whole
    rotated row, and the states are rotated back. A GRU is causal, so the states at real
    positions depend only on the real items before them: the padding now trailing the real
    items cannot reach them, and the output is exactly that of the unpadded history.

    ``valid`` must be True on a suffix of each row (left padding), as recsys-kit builds it.
    """

    objective = "next_item"

    def __init__(self, config: Gru4RecConfig) -> None:
        super().__init__()
        self.config = config
        self.input_dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            input_size=config.dim,
            hidden_size=config.dim,
            num_layers=config.layers,
            batch_first=True,
            # nn.GRU only applies dropout between layers, and warns when there is no such place.
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.output_dropout = nn.Dropout(config.dropout)

    @staticmethod
    def _rotate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Rotate each row of ``x`` (B, L, D) left by ``shift`` (B,) positions."""
        length = x.shape[1]
        positions = torch.arange(length, device=x.device)
        index = (positions[None, :] + shift[:, None]) % length
        return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))

    def forward(self, items: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``items`` (B, L, D) and ``valid`` (B, L) bool -> states (B, L, D), zero at padding."""
        length = items.shape[1]
        keep = valid.unsqueeze(-1).to(items.dtype)
        padding = length - valid.sum(dim=1)
        # Real items first, padding (zeroed) after them; the GRU never sees padding before them.
        x = self._rotate(self.input_dropout(items * keep), padding)
        states, _ = self.gru(x)
        # Rotate back so that position i again holds the state after the history's item i.
        states = self._rotate(states, (length - padding) % length)
        return self.output_dropout(states) * keep.to(states.dtype)


def build_gru4rec(config: Gru4RecConfig, shape: ModelShape) -> Gru4Rec:
    """Factory of the ``gru4rec`` stage: ``factory(config, shape)`` like every model stage.

    ``shape.dim`` and ``shape.max_len`` are taken from this config by the runner, so the item
    encoders are built with the same width as the GRU.
    """
    return Gru4Rec(config)
