"""Built-in fusion: the state at the last history position is the user."""

from __future__ import annotations

from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, NoParams, StageSpec


@hookimpl
def register_stages() -> list:
    """The built-in fusion stages."""
    return [
        StageSpec(Family.FUSION, "last_position", NoParams,
                  "recsys_kit.nn.fusions:build_last_position",
                  "The state at the most recent history position."),
    ]
