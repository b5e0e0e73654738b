"""GRU4Rec as a recsys-kit user encoder: a recurrent network over the item history.

GRU4Rec (Hidasi, Karatzoglou, Baltrunas & Tikk, "Session-based Recommendations with Recurrent
Neural Networks", ICLR 2016) reads a history one item at a time with gated recurrent units;
the hidden state after each item predicts the next one. Here it is a ``user_encoder`` stage:
the item vectors come from the recipe's item encoders, the GRU turns them into one state per
position, and the recipe's fusion and scorer (by default: last position, dot product with the
item table) rank the catalogue.

This module is the plugin's entry point (``[project.entry-points.recsys_kit]``): recsys-kit
imports it and calls :func:`register_stages`. It holds only the config model; the PyTorch
module lives in ``model.py``, named by a ``"module:attribute"`` factory string and imported
only when a run builds the stage, so `recsys-kit validate` and `plugins` stay fast.
"""

from __future__ import annotations

from pydantic import Field

from recsys_kit.api import Family, StageConfig, StageSpec, hookimpl


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


@hookimpl
def register_stages() -> list[StageSpec]:
    """The stages this plugin adds: one user encoder, ``gru4rec``."""
    return [
        StageSpec(
            Family.USER_ENCODER,
            "gru4rec",
            Gru4RecConfig,
            "recsys_kit_gru4rec.model:build_gru4rec",
            "GRU4Rec: a recurrent (GRU) encoder of the item history, next-item objective.",
        ),
    ]
