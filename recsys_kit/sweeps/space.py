"""The search space of a sweep: ``--grid key=v1,v2`` values or ``--param key=float:lo:hi``
ranges, and how one trial's params turn the base recipe into the trial's recipe."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys_kit.errors import RecipeError, RecipeIssue
from recsys_kit.recipe.yaml_lines import dotted_parts, load_yaml

#: Metrics where smaller is better; every other metric is maximised.
MINIMISED = {"rmse", "mae", "loss"}
KINDS = ("float", "int", "choice")


def _issue(flag: str, text: str, message: str) -> RecipeError:
    return RecipeError([RecipeIssue("", f"{flag} {text!r}: {message}", file=flag)])


def split_values(text: str) -> list[str]:
    """``'1e-3,3e-3'`` -> ``['1e-3', '3e-3']``; commas inside brackets, braces or quotes do
    not split (``[5,10],[20]`` is two values)."""
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(text[start:i])
            start = i + 1
    values.append(text[start:])
    return [v.strip() for v in values]


def _key_and_rest(flag: str, text: str) -> tuple[str, str]:
    key, sep, rest = text.partition("=")
    if not sep or not key.strip() or not rest.strip():
        example = "train.lr=1e-3,3e-3" if flag == "--grid" else "train.lr=float:1e-4:1e-2:log"
        raise _issue(flag, text, f"needs the form path.to.key=..., e.g. {example}.")
    return key.strip(), rest.strip()


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid`` options -> {dotted key: [values]} (each value read as YAML, like ``--set``)."""
    grid: dict[str, list[Any]] = {}
    for text in items:
        key, rest = _key_and_rest("--grid", text)
        if key in grid:
            raise _issue("--grid", text, f"{key} is given twice; list all its values in one "
                                         "--grid.")
        values = []
        for raw in split_values(rest):
            if not raw:
                raise _issue("--grid", text, "has an empty value (two commas in a row?).")
            values.append(read_value(raw, "--grid"))
        grid[key] = values
    return grid


@dataclass(frozen=True)
class Param:
    """One ``--param`` of an Optuna sweep: a float or int range (``log`` scale or not), or a
    choice among values."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """What the ``sweeps`` table stores of it."""
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high,
                "log": self.log, "choices": list(self.choices)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Param:
        """The inverse of :meth:`as_json`."""
        return cls(data["key"], data["kind"], data["low"], data["high"], data["log"],
                   tuple(data["choices"]))

    def extremes(self) -> list[Any]:
        """Values to check the recipe with before anything runs (the ends, every choice)."""
        if self.kind == "choice":
            return list(self.choices)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]


def parse_param(text: str) -> Param:
    """``train.lr=float:1e-4:1e-2:log``, ``model.encoders.user.params.layers=int:1:4``,
    ``train.batch_size=choice:64,128,256``."""
    key, rest = _key_and_rest("--param", text)
    kind, _, spec = rest.partition(":")
    if kind not in KINDS:
        raise _issue("--param", text, f"the kind '{kind}' is not one of {', '.join(KINDS)} "
                                      "(e.g. train.lr=float:1e-4:1e-2:log).")
    if kind == "choice":
        values = [read_value(v, "--param") for v in split_values(spec) if v]
        if len(values) < 2:
            raise _issue("--param", text, "a choice needs two or more values, e.g. "
                                          "choice:64,128.")
        return Param(key, kind, choices=tuple(values))
    parts = spec.split(":")
    log = len(parts) == 3 and parts[2] == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise _issue("--param", text, f"a {kind} range is {kind}:LOW:HIGH or {kind}:LOW:HIGH:log.")
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts[:2])
    except ValueError:
        raise _issue("--param", text, f"LOW and HIGH must be {kind} numbers.") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise _issue("--param", text, "LOW must be smaller than HIGH, both finite.")
    if log and low <= 0:
        raise _issue("--param", text, "a log range needs LOW above 0.")
    return Param(key, kind, low, high, log)


def grid_trials(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order given (last key fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def read_value(raw: str, flag: str) -> Any:
    """A value as ``--set`` reads it (YAML), with numbers YAML leaves as text (``1e-3``)
    made numbers, so that trial params compare and plot as numbers."""
    value = load_yaml(raw, flag)[0]
    if isinstance(value, str):
        for cast in (int, float):
            try:
                number = cast(value)
            except ValueError:
                continue
            if math.isfinite(number):
                return number
    return value


def trial_recipe(base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The base recipe with a trial's params set at their dotted paths (list items by index,
    missing mappings created), as ``--set`` sets them."""
    recipe = copy.deepcopy(dict(base))
    for key, value in params.items():
        node: Any = recipe
        parts = dotted_parts(key)
        for part, nxt in itertools.pairwise(parts):
            if isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            elif isinstance(node, dict):
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
            else:
                raise RecipeError([RecipeIssue(key, "this path goes through a value that is "
                                                    "not a mapping or list.", file="--grid")])
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(parts[-1], int)
                                      and parts[-1] < len(node)):
            node[parts[-1]] = copy.deepcopy(value)
        else:
            raise RecipeError([RecipeIssue(key, "cannot set a value here.", file="--grid")])
    return recipe


def direction(metric: str) -> str:
    """``minimize`` for error metrics (rmse, mae, loss), ``maximize`` for the rest."""
    return "minimize" if metric.partition("@")[0] in MINIMISED else "maximize"


def checked_combinations(params: Iterable[Param]) -> list[dict[str, Any]]:
    """Trial params that together cover every extreme of every ``--param`` (for checking the
    recipe before anything runs)."""
    params = list(params)
    if not params:
        return [{}]
    longest = max(len(p.extremes()) for p in params)
    return [{p.key: p.extremes()[i % len(p.extremes())] for p in params} for i in range(longest)]
