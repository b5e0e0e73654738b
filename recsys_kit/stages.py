"""Stage families, the stage spec (family, name, config model, factory) and the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from recsys_kit.errors import PluginError, did_you_mean


class Family(str, Enum):
    """The stage families a recipe is made of."""

    INGEST = "ingest"
    SPLIT = "split"
    TOKENIZE = "tokenize"
    USER_ENCODER = "user_encoder"
    ITEM_ENCODER = "item_encoder"
    FUSION = "fusion"
    SCORER = "scorer"
    EVALUATOR = "evaluator"


class StageConfig(BaseModel):
    """Base of every stage's params model: strict, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StageConfig):
    """Params model of a stage that takes none."""


@dataclass(frozen=True)
class StageSpec:
    """What a plugin registers: a named stage of one family, its config model and factory.

    ``factory(config)`` builds the stage object from a validated ``config`` instance.
    """

    family: Family
    name: str
    config: type[StageConfig]
    factory: Callable[..., Any]
    description: str = ""
    distribution: str = field(default="", compare=False)
    version: str = field(default="", compare=False)


class StageRegistry:
    """Every stage known to one plugin manager, keyed by family and name."""

    def __init__(self, specs: Iterable[StageSpec] = ()) -> None:
        self._specs: dict[tuple[Family, str], StageSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: StageSpec) -> None:
        """Add a stage; a second stage with the same family and name is an error naming both."""
        key = (spec.family, spec.name)
        if key in self._specs:
            other = self._specs[key]
            raise PluginError(
                f"Two plugins register the {spec.family.value} stage '{spec.name}': "
                f"{other.distribution or 'unknown'} and {spec.distribution or 'unknown'}. "
                "Uninstall one of them (pip uninstall ...) or rename the stage in one plugin."
            )
        self._specs[key] = spec

    def names(self, family: Family) -> list[str]:
        """Names of the installed stages of ``family``, sorted."""
        return sorted(name for fam, name in self._specs if fam is family)

    def get(self, family: Family, name: str) -> StageSpec:
        """The spec of stage ``name`` in ``family``; a clear error with choices if absent."""
        try:
            return self._specs[(family, name)]
        except KeyError:
            choices = self.names(family)
            raise PluginError(
                f"No {family.value} stage named '{name}'.{did_you_mean(name, choices)} "
                f"Installed: {', '.join(choices) or 'none'}."
            ) from None

    def find(self, family: Family, name: str) -> StageSpec | None:
        """The spec, or None when no such stage is installed."""
        return self._specs.get((family, name))

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: (s.family.value, s.name)))

    def __len__(self) -> int:
        return len(self._specs)
