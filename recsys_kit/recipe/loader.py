"""Load a recipe: YAML with lines, `--set`, structure pass, stage-params pass, recipe checks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from recsys_kit.errors import RecipeError, RecipeIssue, did_you_mean
from recsys_kit.recipe.checks import check_recipe
from recsys_kit.recipe.models import Recipe, StageRef
from recsys_kit.recipe.yaml_lines import Loc, apply_override, read_yaml
from recsys_kit.stages import Family, StageConfig, StageRegistry, StageSpec


@dataclass(frozen=True)
class ResolvedStage:
    """A recipe stage bound to its installed spec and validated params."""

    path: str
    spec: StageSpec
    config: StageConfig

    def build(self) -> Any:
        """Instantiate the stage through its plugin's factory."""
        return self.spec.factory(self.config)


@dataclass
class LoadedRecipe:
    """A validated recipe: the model, its effective mapping, and its resolved stages."""

    recipe: Recipe
    source: str
    effective: dict[str, Any]
    stages: dict[str, ResolvedStage] = field(default_factory=dict)

    def stage(self, path: str) -> ResolvedStage:
        """The resolved stage at a dotted recipe path, e.g. ``model.encoders.user``."""
        return self.stages[path]

    def stage_list(self, prefix: str) -> list[ResolvedStage]:
        """Resolved stages of a list section such as ``evaluate`` or ``data.tokenize``."""
        out, i = [], 0
        while f"{prefix}.{i}" in self.stages:
            out.append(self.stages[f"{prefix}.{i}"])
            i += 1
        return out


def stage_refs(recipe: Recipe) -> Iterator[tuple[Loc, Family, StageRef]]:
    """Every stage reference in a recipe with its location and family."""
    yield ("data", "ingest"), Family.INGEST, recipe.data.ingest
    yield ("data", "split"), Family.SPLIT, recipe.data.split
    for i, ref in enumerate(recipe.data.tokenize):
        yield ("data", "tokenize", i), Family.TOKENIZE, ref
    yield ("model", "encoders", "user"), Family.USER_ENCODER, recipe.model.encoders.user
    for i, ref in enumerate(recipe.model.encoders.item):
        yield ("model", "encoders", "item", i), Family.ITEM_ENCODER, ref
    yield ("model", "fusion"), Family.FUSION, recipe.model.fusion
    yield ("model", "scorer"), Family.SCORER, recipe.model.scorer
    for i, ref in enumerate(recipe.evaluate):
        yield ("evaluate", i), Family.EVALUATOR, ref
    for i, ref in enumerate(recipe.baselines):
        yield ("baselines", i), Family.USER_ENCODER, ref


def dotted(loc: Sequence[str | int]) -> str:
    """``('a', 0, 'b')`` -> ``'a.0.b'``."""
    return ".".join(str(p) for p in loc)


class _Lines:
    def __init__(self, file: str, lines: dict[Loc, int], overridden: set[Loc]) -> None:
        self.file, self.lines, self.overridden = file, lines, overridden

    def issue(self, loc: Loc, message: str) -> RecipeIssue:
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.overridden:
                return RecipeIssue(dotted(loc), message, file="--set")
            if loc[:n] in self.lines:
                return RecipeIssue(dotted(loc), message, file=self.file, line=self.lines[loc[:n]])
        return RecipeIssue(dotted(loc), message, file=self.file)


def _field_names(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the sub-model at ``loc`` (for 'did you mean' on unknown keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        if part not in fields:
            return []
        annotation = fields[part].annotation
        args = getattr(annotation, "__args__", ())
        current = next((a for a in (annotation, *args) if hasattr(a, "model_fields")), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _issues(exc: ValidationError, model: type[BaseModel], prefix: Loc, lines: _Lines):
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            hint = did_you_mean(key, _field_names(model, loc[:-1]))
            allowed = ", ".join(_field_names(model, loc[:-1]))
            msg = f"unknown key '{key}'.{hint} Allowed here: {allowed}."
        elif err["type"] == "missing":
            msg = "required field is missing."
        else:
            msg = f"{err['msg']} (got {err.get('input')!r})."
        yield lines.issue(prefix + loc, msg)


def validate_mapping(
    data: dict[str, Any],
    registry: StageRegistry,
    *,
    source: str = "<recipe>",
    lines: dict[Loc, int] | None = None,
    overridden: set[Loc] | None = None,
) -> LoadedRecipe:
    """Validate an already-loaded recipe mapping in two passes; raise with every issue."""
    where = _Lines(source, lines or {}, overridden or set())
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(list(_issues(exc, Recipe, (), where))) from None
    issues: list[RecipeIssue] = []
    stages: dict[str, ResolvedStage] = {}
    for loc, family, ref in stage_refs(recipe):
        spec = registry.find(family, ref.plugin)
        if spec is None:
            choices = registry.names(family)
            issues.append(where.issue(
                (*loc, "plugin"),
                f"no {family.value} stage named '{ref.plugin}'.{did_you_mean(ref.plugin, choices)}"
                f" Installed: {', '.join(choices) or 'none'}.",
            ))
            continue
        try:
            config = spec.config.model_validate(ref.params)
        except ValidationError as exc:
            issues.extend(_issues(exc, spec.config, (*loc, "params"), where))
            continue
        stages[dotted(loc)] = ResolvedStage(dotted(loc), spec, config)
    loaded = LoadedRecipe(recipe=recipe, source=source, effective=recipe.model_dump(mode="json"),
                          stages=stages)
    if not issues:
        issues.extend(where.issue(loc, msg) for loc, msg in check_recipe(loaded))
    if issues:
        raise RecipeError(issues)
    return loaded


def load_recipe(
    path: str | Path, registry: StageRegistry, overrides: Sequence[str] = ()
) -> LoadedRecipe:
    """Read, override and validate the recipe at ``path``."""
    path = Path(path)
    data, lines = read_yaml(path)
    overridden = {apply_override(data, item) for item in overrides}
    return validate_mapping(data, registry, source=str(path), lines=lines, overridden=overridden)
