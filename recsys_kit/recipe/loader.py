"""Load a recipe: YAML with lines, `--set`, structure pass, stage-params pass, recipe checks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from recsys_kit.errors import RecipeError, RecipeIssue, did_you_mean
from recsys_kit.recipe.checks import check_recipe
from recsys_kit.recipe.factories import check_factories
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
        """Instantiate a data or evaluator stage: ``factory(config)`` (model stages are built
        with ``factory(config, shape)`` by the runner)."""
        return self.spec.build(self.config)


@dataclass
class LoadedRecipe:
    """A validated recipe: the model, its effective mapping, and its resolved stages.

    ``effective`` is what a run records: every default filled in, and each stage's ``params``
    replaced by its validated config (``model_dump(mode="json")``), stage defaults included.
    """

    recipe: Recipe
    source: str
    effective: dict[str, Any]
    stages: dict[str, ResolvedStage] = field(default_factory=dict)

    def stage(self, path: str) -> ResolvedStage:
        """The resolved stage at a dotted recipe path, e.g. ``model.encoders.user``."""
        return self.stages[path]

    def unused_params(self) -> list[str]:
        """One sentence per stage option that is set but that the stage ignores as configured
        (a loss option of another loss): worth a warning, not an error."""
        return [f"{path}.params.{name} is set but not used: {reason}."
                for path, stage in self.stages.items()
                for name, reason in stage.config.unused_params().items()]

    def stage_list(self, prefix: str) -> list[ResolvedStage]:
        """Resolved stages of a list section such as ``evaluate`` or ``data.tokenize``."""
        out, i = [], 0
        while f"{prefix}.{i}" in self.stages:
            out.append(self.stages[f"{prefix}.{i}"])
            i += 1
        return out


def _stage_fields(
    model: type[BaseModel] = Recipe, prefix: Loc = ()
) -> Iterator[tuple[Loc, Family, bool, bool]]:
    """Every field of the recipe models that holds stage references, read from the models'
    ``x-family`` marks: its location, family, whether it is a list, and whether that list also
    accepts a single reference."""
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if "x-family" in extra:
            is_list = get_origin(info.annotation) is list
            yield (*prefix, name), Family(extra["x-family"]), is_list, bool(
                extra.get("x-one-or-many"))
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _stage_fields(info.annotation, (*prefix, name))


def _fill_default_plugins(data: Any) -> None:
    """A stage given without ``plugin`` where the recipe has a default stage takes the
    default's plugin: ``--set model.scorer.params.loss=sce`` on a recipe that leaves the scorer
    to its default sets the default ``dot`` scorer's loss."""
    for loc, _, is_list, _ in _stage_fields():
        value = _at(data, loc)
        if is_list or not isinstance(value, dict) or "plugin" in value:
            continue
        model: Any = Recipe
        for name in loc[:-1]:
            model = model.model_fields[name].annotation
        default = model.model_fields[loc[-1]].get_default(call_default_factory=True)
        if isinstance(default, StageRef):
            value["plugin"] = default.plugin


def _at(data: Any, loc: Loc) -> Any:
    """The value at ``loc`` in nested mappings, or None where the path does not exist."""
    for part in loc:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _refs_in(data: dict[str, Any]) -> Iterator[tuple[Loc, Family, StageRef]]:
    """The well-formed stage references present in a recipe mapping, validated or not.

    References that are not well formed (no ``plugin``, ``params`` not a mapping, a list where
    a mapping belongs) are skipped: the structure pass reports them.
    """
    for loc, family, is_list, one_or_many in _stage_fields():
        value = _at(data, loc)
        if is_list and isinstance(value, list):
            items = [((*loc, i), item) for i, item in enumerate(value)]
        elif not is_list or one_or_many:
            items = [((*loc, 0) if is_list else loc, value)]
        else:
            continue
        for item_loc, item in items:
            try:
                ref = StageRef.model_validate(item)
            except ValidationError:
                continue
            yield item_loc, family, ref


def stage_refs(recipe: Recipe) -> Iterator[tuple[Loc, Family, StageRef]]:
    """Every stage reference in a recipe (defaults included) with its location and family."""
    return _refs_in(recipe.model_dump())


def dotted(loc: Sequence[str | int]) -> str:
    """``('a', 0, 'b')`` -> ``'a.0.b'``."""
    return ".".join(str(p) for p in loc)


class _Lines:
    """Says where an issue's location comes from: `--set`, or a line of the recipe file."""

    def __init__(self, file: str, lines: dict[Loc, int], overridden: set[Loc]) -> None:
        self.file, self.lines = file, lines
        # An override's own path, and every key above it that it created (absent from the file).
        self.from_set = {
            path[:n] for path in overridden for n in range(1, len(path) + 1)
            if n == len(path) or path[:n] not in lines
        }

    def issue(self, loc: Loc, message: str) -> RecipeIssue:
        """The issue at ``loc``: `--set` when it lies in or under a value that --set wrote,
        else the line of the nearest enclosing key in the file."""
        if any(loc[:n] in self.from_set for n in range(1, len(loc) + 1)):
            return RecipeIssue(dotted(loc), message, file="--set")
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return RecipeIssue(dotted(loc), message, file=self.file, line=self.lines[loc[:n]])
        return RecipeIssue(dotted(loc), message, file=self.file)


#: Extra advice appended to errors of one pydantic type at one location.
_HINTS: dict[tuple[Loc, str], str] = {
    (("evaluate",), "too_short"): "A recipe needs at least one evaluator: it computes the "
    "metric that `train.monitor` watches, e.g. `evaluate: [{plugin: ranking}]`.",
}


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


def _got(value: Any) -> str:
    """' (got <value>)', shortened; empty for a whole mapping (a check across fields)."""
    if isinstance(value, dict):
        return ""
    shown = repr(value)
    return f" (got {shown[:77]}...)" if len(shown) > 80 else f" (got {shown})"


def _issues(
    exc: ValidationError, model: type[BaseModel], prefix: Loc, lines: _Lines
) -> Iterator[RecipeIssue]:
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            names = _field_names(model, loc[:-1])
            allowed = f"Allowed here: {', '.join(names)}." if names else "Nothing is allowed here."
            msg = f"unknown key '{key}'.{did_you_mean(key, names)} {allowed}"
        elif err["type"] == "missing":
            msg = "required field is missing."
        elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
            choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            hint = did_you_mean(err["input"], choices)
            msg = f"{err['msg']}{_got(err['input'])}.{hint}"
        else:
            msg = f"{err['msg'].removeprefix('Value error, ')}{_got(err.get('input'))}."
        hint_key = (prefix + loc, err["type"])
        if hint_key in _HINTS:
            msg = f"{msg} {_HINTS[hint_key]}"
        yield lines.issue(prefix + loc, msg)


def _set_params(effective: dict[str, Any], loc: Loc, config: StageConfig) -> None:
    node: Any = effective
    for part in loc:
        node = node[part]
    node["params"] = config.model_dump(mode="json")


def _in_file_order(issues: list[RecipeIssue]) -> list[RecipeIssue]:
    """Issues sorted by line; those without one (from `--set`) last, in the order found."""
    return sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0))


def _sections(data: Any) -> dict[str, Any]:
    """The recipe's top-level sections that validate on their own (defaults for absent ones):
    what whole-recipe checks read when the recipe as a whole did not validate."""
    sections: dict[str, Any] = {}
    given = data if isinstance(data, dict) else {}
    for name, info in Recipe.model_fields.items():
        if name not in given and info.is_required():
            continue
        try:
            sections[name] = (TypeAdapter(Annotated[info.annotation, info]).validate_python(
                given[name]) if name in given else info.get_default(call_default_factory=True))
        except ValidationError:
            continue
    return sections


def _covers(issue: RecipeIssue, section: str) -> bool:
    return issue.path == section or issue.path.startswith(f"{section}.")


#: Stages a direct recommender (``StageSpec.direct``) does not use.
_UNUSED_BY_DIRECT: tuple[Loc, ...] = (
    ("model", "encoders", "item"), ("model", "fusion"), ("model", "scorer"),
    ("model", "retrieval"),
)


def _drop_unused(effective: dict[str, Any], stages: dict[str, ResolvedStage]) -> None:
    """Forget the model stages a direct recommender ignores (defaults included), so that a run
    does not record them as used."""
    user = stages.get("model.encoders.user")
    if user is None or not user.spec.direct:
        return
    for loc in _UNUSED_BY_DIRECT:
        for path in [p for p in stages if p == dotted(loc) or p.startswith(f"{dotted(loc)}.")]:
            del stages[path]
        parent = _at(effective, loc[:-1])
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)


def validate_mapping(
    data: dict[str, Any],
    registry: StageRegistry,
    *,
    source: str = "<recipe>",
    lines: dict[Loc, int] | None = None,
    overridden: set[Loc] | None = None,
) -> LoadedRecipe:
    """Validate an already-loaded recipe mapping; raise one error with every issue.

    The structure pass (the recipe's own sections) and the stage pass (each stage's plugin and
    params) both run: when the structure is invalid, the well-formed stage references found in
    the mapping are still checked. Whole-recipe checks run on the sections that validated, so
    their errors show with the others. A valid recipe's stage factories are then checked
    (:mod:`recipe.factories`): a broken plugin is a :class:`PluginError`.
    """
    where = _Lines(source, lines or {}, overridden or set())
    issues: list[RecipeIssue] = []
    recipe: Recipe | None = None
    _fill_default_plugins(data)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issues(exc, Recipe, (), where))
    sections = _sections(data) if recipe is None else {}
    partial = recipe if recipe is not None else Recipe.model_construct(**sections)
    if recipe is not None:
        refs = stage_refs(recipe)
    else:  # the sections that validated, defaults filled in; the others as written
        given = data if isinstance(data, dict) else {}
        refs = _refs_in({**given, **{
            name: TypeAdapter(Recipe.model_fields[name].annotation).dump_python(value)
            for name, value in sections.items()}})
    stages: dict[str, ResolvedStage] = {}
    configs: list[tuple[Loc, StageConfig]] = []
    for loc, family, ref in refs:
        spec = registry.find(family, ref.plugin)
        if spec is None:
            issues.append(where.issue((*loc, "plugin"), registry.unknown_stage(family, ref.plugin)))
            continue
        try:
            config = spec.config.model_validate(ref.params)
        except ValidationError as exc:
            issues.extend(_issues(exc, spec.config, (*loc, "params"), where))
            continue
        stages[dotted(loc)] = ResolvedStage(dotted(loc), spec, config)
        configs.append((loc, config))
    found = list(issues)

    def valid(section: str) -> bool:
        return (recipe is not None or section in sections) and not any(
            _covers(issue, section) for issue in found)

    checked = LoadedRecipe(recipe=partial, source=source, effective={}, stages=stages)
    issues.extend(where.issue(loc, msg) for loc, msg in check_recipe(checked, valid))
    if recipe is None or issues:
        raise RecipeError(_in_file_order(issues))
    effective = recipe.model_dump(mode="json")
    for loc, config in configs:
        _set_params(effective, loc, config)
    _drop_unused(effective, stages)
    check_factories(stages.values())
    return LoadedRecipe(recipe=recipe, source=source, effective=effective, stages=stages)


def load_recipe(
    path: str | Path, registry: StageRegistry, overrides: Sequence[str] = ()
) -> LoadedRecipe:
    """Read, override and validate the recipe at ``path``."""
    path = Path(path)
    data, lines = read_yaml(path)
    overridden = {apply_override(data, item) for item in overrides}
    return validate_mapping(data, registry, source=str(path), lines=lines, overridden=overridden)
