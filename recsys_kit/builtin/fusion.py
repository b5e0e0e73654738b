"""Built-in fusion: the last position's state, or target attention of a candidate over the
history (DIN-style), which also explains each recommendation by its attention weights."""

from __future__ import annotations

from pydantic import Field

from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, NoParams, StageConfig, StageSpec


class TargetAttentionConfig(StageConfig):
    """Candidate-over-history attention; pair with the ``mlp`` scorer."""

    explain_top: int = Field(
        5, ge=0, description="History items (largest attention weights) stored per "
        "recommendation in the explanations table; 0 stores none.",
    )


@hookimpl
def register_stages() -> list:
    """The built-in fusion stages."""
    return [
        StageSpec(Family.FUSION, "last_position", NoParams,
                  "recsys_kit.nn.fusion.last_position:build_last_position",
                  "The state at the most recent history position."),
        StageSpec(Family.FUSION, "target_attention", TargetAttentionConfig,
                  "recsys_kit.nn.fusion.target_attention:build_target_attention",
                  "Candidate item attends over the encoded history (DIN); weights explain."),
    ]
