"""Built-in scorer: dot product with full softmax, sampled softmax or BCE with negatives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in scorers."""
    return [
        StageSpec(Family.SCORER, "dot", DotConfig, "recsys_kit.nn.dot:build_dot",
                  "Dot product of user state and item vector; CE, sampled softmax or BCE."),
    ]
