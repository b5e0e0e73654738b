"""GRU4Rec as a recsys-kit user encoder: a recurrent network over the item history.

GRU4Rec (Hidasi, Karatzoglou, Baltrunas & Tikk, "Session-based Recommendations with Recurrent
Neural Networks", ICLR 2016) reads a history one item at a time with gated recurrent units;
the hidden state after each item predicts the next one. Here it is a ``user_encoder`` stage:
the item vectors come from the recipe's item encoders, the GRU turns them into one state per
position, and the recipe's fusion and scorer (by default: last position, dot product with the
item table) rank the catalogue.

This module is the plugin's entry point (``[project.entry-points.recsys_kit]``): recsys-kit
imports it and calls :func:`register_stages`.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from recsys_kit.hookspecs import hookimpl
from recsys_kit.nn.model import ModelShape, UserEncoder
from recsys_kit.stages import Family, StageConfig, StageSpec

__all__ = ["Gru4Rec", "Gru4RecConfig", "build_gru4rec", "register_stages"]


class Gru4RecConfig(StageConfig):
    """Params of the ``gru4rec`` user encoder (``model.encoders.user.params``)."""

    dim: int = Field(64, ge=2, description="Width of item vectors and of the GRU hidden state.")
    layers: int = Field(1, ge=1, description="Stacked GRU layers.")
    dropout: float = Field(
        0.1, ge=0, lt=1,
        description="Dropout on the input item vectors, between GRU layers and on the output "
        "states.",
    )
    max_len: int = Field(50, ge=2, description="Most recent history items the model reads.")


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


@hookimpl
def register_stages() -> list[StageSpec]:
    """The stages this plugin adds: one user encoder, ``gru4rec``."""
    return [
        StageSpec(
            Family.USER_ENCODER,
            "gru4rec",
            Gru4RecConfig,
            build_gru4rec,
            "GRU4Rec: a recurrent (GRU) encoder of the item history, next-item objective.",
        ),
    ]
