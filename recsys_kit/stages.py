"""Stage families, the stage spec (family, name, config model, factory) and the registry."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
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
    """Base of every stage's params model: strict, unknown keys are errors, and numbers must
    be finite (no NaN or infinity)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def unused_params(self) -> dict[str, str]:
        """Params the recipe sets that this configuration will not use, each with the reason
        (the runner warns about them): a choice elsewhere in the params made them moot."""
        return {}


class NoParams(StageConfig):
    """Params model of a stage that takes none."""


@dataclass(frozen=True)
class StageSpec:
    """What a plugin registers: a named stage of one family, its config model and factory.

    How the runner calls ``factory`` depends on the family:

    - data and evaluator families (``ingest``, ``split``, ``tokenize``, ``evaluator``):
      ``factory(config)``, with the validated ``config`` instance;
    - model families (``user_encoder``, ``item_encoder``, ``fusion``, ``scorer``):
      ``factory(config, shape)``, where ``shape`` is a ``recsys_kit.nn.model.ModelShape``
      (vocabulary size, width, longest history); it returns an ``nn.Module``.

    ``factory`` may also be a ``"module:attribute"`` string, imported only when the stage is
    built: that keeps heavy imports (torch) out of ``validate``, ``plugins`` and ``schema``.

    ``distribution`` and ``version`` are filled in from the plugin's installed metadata.

    ``direct`` marks a user encoder that recommends by itself (its module is a
    ``recsys_kit.nn.model.DirectRecommender``, e.g. ``popularity``): a recipe using it must not
    set item encoders, fusion or scorer, which it would ignore, and a run does not record them.
    """

    family: Family
    name: str
    config: type[StageConfig]
    factory: Callable[..., Any] | str
    description: str = ""
    distribution: str = field(default="", compare=False)
    version: str = field(default="", compare=False)
    direct: bool = False

    def build(self, *args: Any) -> Any:
        """Call the factory (importing it first when it is given as ``"module:attribute"``)."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, attribute = factory.partition(":")
            factory = getattr(importlib.import_module(module), attribute)
        return factory(*args)


@dataclass(frozen=True)
class StageClash:
    """Two plugins that register a stage of the same family and name; the first one is kept."""

    kept: StageSpec
    rejected: StageSpec

    def message(self) -> str:
        """One sentence naming the stage, both distributions and what to do."""
        spec = self.kept
        return (
            f"Two plugins register the {spec.family.value} stage '{spec.name}': "
            f"{spec.distribution or 'unknown'} and {self.rejected.distribution or 'unknown'}. "
            "Uninstall one of them (pip uninstall ...) or rename the stage in one plugin."
        )


class StageRegistry:
    """Every stage known to one plugin manager, keyed by family and name."""

    def __init__(self, specs: Iterable[StageSpec] = ()) -> None:
        self._specs: dict[tuple[Family, str], StageSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: StageSpec) -> None:
        """Add a stage; a second stage with the same family and name is an error naming both.

        ``recsys_kit.plugins.make_plugins`` checks with :meth:`find` first and records a
        :class:`StageClash` instead, so that one clash does not hide every other stage.
        """
        other = self.find(spec.family, spec.name)
        if other is not None:
            raise PluginError(StageClash(other, spec).message())
        self._specs[(spec.family, spec.name)] = spec

    def names(self, family: Family) -> list[str]:
        """Names of the installed stages of ``family``, sorted."""
        return sorted(name for fam, name in self._specs if fam is family)

    def get(self, family: Family, name: str) -> StageSpec:
        """The spec of stage ``name`` in ``family``; a clear error with choices if absent."""
        try:
            return self._specs[(family, name)]
        except KeyError:
            message = self.unknown_stage(family, name)
            raise PluginError(message[0].upper() + message[1:]) from None

    def unknown_stage(self, family: Family, name: str) -> str:
        """Why ``name`` is not a stage of ``family``: the family it belongs to, if any, the
        closest name and the installed choices (starts in lower case)."""
        choices = self.names(family)
        elsewhere = " and ".join(
            f"{'an' if other.value[0] in 'aeiou' else 'a'} {other.value} stage"
            for other in self.families_of(name)
        )
        return (
            f"no {family.value} stage named '{name}'"
            f"{f' (it is {elsewhere})' if elsewhere else ''}.{did_you_mean(name, choices)}"
            f" Installed: {', '.join(choices) or 'none'}."
        )

    def find(self, family: Family, name: str) -> StageSpec | None:
        """The spec, or None when no such stage is installed."""
        return self._specs.get((family, name))

    def families_of(self, name: str) -> list[Family]:
        """The families that have a stage called ``name`` (to explain a wrong-family name)."""
        return [family for family in Family if (family, name) in self._specs]

    def __iter__(self) -> Iterator[StageSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.family.value, s.name)))

    def __len__(self) -> int:
        return len(self._specs)
