"""Built-in scorers: dot product (full softmax, or a large-catalogue loss: sampled softmax,
gBCE, SCE, BCE), and an MLP over a pairwise fusion's (user, candidate) vector (BCE for clicks,
MSE for ratings). docs/scaling.md says which loss to use when."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recsys_kit.builtin.fields import Positive
from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, StageConfig, StageSpec


class DotConfig(StageConfig):
    """Dot-product scorer and its training loss."""

    loss: Literal["cross_entropy", "sampled_softmax", "gbce", "sce", "bce"] = Field(
        "cross_entropy",
        description="`cross_entropy`: full softmax over the catalogue, the most accurate; use it "
        "while the (positions x items) logits are affordable (up to ~10^5 items on a GPU). For "
        "bigger catalogues: `sampled_softmax`: softmax over the target, `in_batch` of the "
        "batch's targets and `negatives` samples, with logQ correction; `gbce`: gSASRec's "
        "calibrated BCE against `negatives` uniform samples; `sce`: Scalable Cross-Entropy, "
        "softmax over the hardest negatives found by random-projection buckets; `bce`: plain "
        "BCE against `negatives` uniform samples (weakest).",
    )
    negatives: int = Field(
        256, ge=1, description="Sampled negatives: per batch, shared by its positions "
        "(sampled_softmax); per block of `negative_block` positions (gbce, bce).",
    )
    negative_block: int = Field(
        8, ge=1, description="gbce, bce: each block of this many consecutive positions draws "
        "its own `negatives`; smaller blocks reach more of the catalogue per step at the same "
        "multiply-adds, for blocks x negatives x dim floats of gathered item vectors (1: per "
        "position, as in gSASRec; a huge value: one draw per batch).",
    )
    sampler: Literal["uniform", "popularity"] = Field(
        "uniform", description="Where sampled_softmax draws its `negatives` from: `uniform` over "
        "the catalogue (covers the long tail), or `popularity` (training counts plus one).",
    )
    in_batch: int = Field(
        2048, ge=0, description="sampled_softmax: how many of the batch's own targets also serve "
        "as negatives (drawn from its positions; all of them when the batch has fewer; 0: none).",
    )
    gbce_t: float = Field(
        0.75, ge=0, le=1, description="gbce: calibration t; 0 is plain BCE, 1 fully calibrates "
        "the positive's probability to the sampling rate (β = 1 - t·(1 - negatives/(items-1))).",
    )
    buckets: int | None = Field(
        None, ge=1, description="sce: random-projection buckets per batch (default 2·√N for N "
        "positions).",
    )
    bucket_states: int | None = Field(
        None, ge=1, description="sce: highest-scoring positions kept per bucket (default 2·√N).",
    )
    bucket_items: int = Field(
        256, ge=1, description="sce: highest-scoring items per bucket: each position's negatives.",
    )
    mix_states: bool = Field(
        True, description="sce: bucket directions are random mixtures of the batch's states "
        "(true) rather than random vectors (false).",
    )
    kernel: Literal["auto", "torch"] = Field(
        "auto", description="cross_entropy: `auto` uses the fused cut-cross-entropy kernel on "
        "CUDA under bf16 when the `gpu` extra is installed, else the torch implementation; "
        "`torch` always uses the torch implementation.",
    )


    def unused_params(self) -> dict[str, str]:
        """Loss options changed from their defaults that the chosen loss ignores (compared
        with the default, not "given": a run's recorded recipe spells out every default)."""
        fields = type(self).model_fields
        return {name: f"it applies to loss {' or '.join(sorted(losses))}, not {self.loss}"
                for name, losses in LOSS_OPTIONS.items()
                if self.loss not in losses and getattr(self, name) != fields[name].default}


#: Which losses read each of DotConfig's loss options.
LOSS_OPTIONS: dict[str, frozenset[str]] = {
    "negatives": frozenset({"sampled_softmax", "gbce", "bce"}),
    "negative_block": frozenset({"gbce", "bce"}),
    "sampler": frozenset({"sampled_softmax"}),
    "in_batch": frozenset({"sampled_softmax"}),
    "gbce_t": frozenset({"gbce"}),
    "buckets": frozenset({"sce"}),
    "bucket_states": frozenset({"sce"}),
    "bucket_items": frozenset({"sce"}),
    "mix_states": frozenset({"sce"}),
    "kernel": frozenset({"cross_entropy"}),
}


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
                  "Dot product of user state and item vector; full CE, or sampled softmax, "
                  "gBCE, SCE, BCE for big catalogues."),
        StageSpec(Family.SCORER, "mlp", MlpConfig, "recsys_kit.nn.heads.mlp:build_mlp",
                  "MLP over a pairwise fusion: σ(W·P); BCE for clicks, MSE for ratings."),
    ]
