"""Built-in scorers: dot product (full softmax, sampled softmax or BCE with negatives), and an
MLP over a pairwise fusion's (user, candidate) vector (BCE for clicks, MSE for ratings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recsys_kit.builtin.fields import Positive
from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, StageConfig, StageSpec


class DotConfig(StageConfig):
    """Dot-product scorer and its loss."""

    loss: Literal["cross_entropy", "sampled_softmax", "bce"] = Field(
        "cross_entropy",
        description="`cross_entropy`: full softmax over the catalogue; `sampled_softmax`: "
        "softmax over the target and `negatives` uniform samples; `bce`: binary "
        "cross-entropy of the target against `negatives` samples.",
    )
    negatives: int = Field(
        256, ge=1, description="Sampled negatives per batch (sampled_softmax, bce)."
    )


class MlpConfig(StageConfig):
    """MLP scorer over target attention's fused vector: ``I = σ(W·P)``."""

    loss: Literal["bce", "mse"] = Field(
        "bce", description="`bce`: implicit feedback, the target against `negatives` sampled "
        "items; `mse`: explicit ratings, the predicted rating against the real one."
    )
    hidden: list[Positive] = Field(default_factory=lambda: [64],
                                   description="Hidden layer widths (each 1 or more).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout after each hidden layer.")
    negatives: int = Field(8, ge=1, description="Sampled negatives per prediction point (bce).")
    positions: int = Field(
        16, ge=1, description="Prediction points sampled per training sequence (the pairwise "
        "loss is computed at these positions, each with its own visible history).",
    )


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in scorers."""
    return [
        StageSpec(Family.SCORER, "dot", DotConfig, "recsys_kit.nn.heads.dot:build_dot",
                  "Dot product of user state and item vector; CE, sampled softmax or BCE."),
        StageSpec(Family.SCORER, "mlp", MlpConfig, "recsys_kit.nn.heads.mlp:build_mlp",
                  "MLP over a pairwise fusion: σ(W·P); BCE for clicks, MSE for ratings."),
    ]
