"""JSON Schema of recipes, with each stage reference narrowed to the installed plugins."""

from __future__ import annotations

from typing import Any

from recsys_kit.recipe.models import Recipe
from recsys_kit.stages import Family, StageRegistry

REF_TEMPLATE = "#/$defs/{model}"
#: Keys of a stage-reference field kept when it is narrowed to its family's stages.
_KEPT = ("description", "title", "default")


def _stage_choices(registry: StageRegistry, family: Family, defs: dict[str, Any]) -> dict:
    choices = []
    for name in registry.names(family):
        spec = registry.get(family, name)
        params = spec.config.model_json_schema(ref_template=REF_TEMPLATE)
        defs.update(params.pop("$defs", {}))
        choices.append({
            "type": "object",
            "title": f"{family.value}: {name}",
            "description": spec.description,
            "properties": {"plugin": {"const": name}, "params": params},
            "required": ["plugin"],
            "additionalProperties": False,
        })
    return {"oneOf": choices} if choices else {"$ref": REF_TEMPLATE.format(model="StageRef")}


def _narrow(node: Any, registry: StageRegistry, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        family = node.get("x-family")
        if family is not None:
            choices = _stage_choices(registry, Family(family), defs)
            described = {k: v for k, v in node.items() if k in _KEPT}
            if node.get("type") != "array":
                return {**described, **choices}
            array = {"type": "array", "items": choices}
            if "minItems" in node:
                array["minItems"] = node["minItems"]
            if node.get("x-one-or-many"):
                return {**described, "anyOf": [array, choices]}
            return {**described, **array}
        return {k: _narrow(v, registry, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_narrow(v, registry, defs) for v in node]
    return node


def recipe_json_schema(registry: StageRegistry) -> dict[str, Any]:
    """The recipe schema; every ``plugin``/``params`` pair validates against its plugin."""
    schema = Recipe.model_json_schema(ref_template=REF_TEMPLATE)
    defs = schema.pop("$defs", {})
    extra: dict[str, Any] = {}
    narrowed_defs = {name: _narrow(d, registry, extra) for name, d in defs.items()}
    body = _narrow(schema, registry, extra)
    body["$defs"] = {**narrowed_defs, **extra}
    body["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return body
