"""Check, before a run, that every stage's ``"module:attribute"`` factory can be found.

A factory string is imported only when a run builds the stage, so a typo in a plugin would
otherwise surface minutes into a run as an unexpected error. Two ways to check, because
importing is what the string form exists to avoid:

- factories inside recsys-kit itself (``recsys_kit.…``) live in modules that import torch;
  ``validate`` must stay free of torch. They are checked without importing: the module's file
  is located with the import system's finders (no parent package is imported either) and its
  source is parsed (``ast``) for a top-level definition, assignment or import of the attribute.
  A module whose names cannot be read from its source (compiled, ``from x import *``, a
  module ``__getattr__``) is accepted.
- any other factory (third-party plugins) is imported and the attribute looked up, without
  calling it: that also catches what only an import shows (a missing dependency, a syntax
  error), and a plugin's own imports are its own business.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from importlib.machinery import ModuleSpec, PathFinder
from typing import Protocol

from recsys_kit.errors import PluginError
from recsys_kit.stages import StageSpec

#: Factories under this package are checked statically (see the module docstring).
BUILT_IN_PACKAGE = "recsys_kit"


class _Stage(Protocol):
    path: str
    spec: StageSpec


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _locate(module: str) -> ModuleSpec:
    """The spec of ``module`` found without importing it or its parent packages."""
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])
    for i in range(1, len(parts)):
        if spec is None:
            break
        if spec.submodule_search_locations is None:
            raise ModuleNotFoundError(f"No module named '{module}' ('{'.'.join(parts[:i])}' is "
                                      "not a package)")
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), spec.submodule_search_locations)
    if spec is None:
        raise ModuleNotFoundError(f"No module named '{module}'")
    return spec


def _bound_names(body: list[ast.stmt]) -> set[str] | None:
    """Names a module body binds at top level (including inside if/try blocks); None when
    they cannot be known from the source (a star import or a module ``__getattr__``)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", []),
                      *(h.body for h in getattr(node, "handlers", []))]
            for block in blocks:
                inner = _bound_names(block)
                if inner is None:
                    return None
                names |= inner
    return None if "__getattr__" in names else names


def _static_problem(module: str, attribute: str) -> str | None:
    """Why ``module:attribute`` cannot be found, judged from the source without importing."""
    if module in sys.modules:
        return _imported_problem(module, attribute)
    try:
        spec = _locate(module)
    except ImportError as exc:
        return _one_line(exc)
    origin = spec.origin or ""
    if not origin.endswith(".py"):
        return None
    try:
        with open(origin, encoding="utf-8") as source:
            tree = ast.parse(source.read(), origin)
    except (OSError, SyntaxError, ValueError) as exc:
        return _one_line(exc)
    names = _bound_names(tree.body)
    if names is None or attribute in names:
        return None
    return f"AttributeError: module '{module}' has no attribute '{attribute}'"


def _imported_problem(module: str, attribute: str) -> str | None:
    """Why ``module:attribute`` cannot be found, by importing the module (not calling it)."""
    try:
        loaded = importlib.import_module(module)
    except Exception as exc:  # any import failure of a plugin is reported, not raised
        return _one_line(exc)
    if not hasattr(loaded, attribute):
        return f"AttributeError: module '{module}' has no attribute '{attribute}'"
    return None


def factory_problem(factory: str) -> str | None:
    """Why the factory string ``"module:attribute"`` cannot be resolved, or None if it can."""
    module, sep, attribute = factory.partition(":")
    if not sep or not module or not attribute:
        return "the factory must have the form 'module:attribute'"
    if module.split(".")[0] == BUILT_IN_PACKAGE:
        return _static_problem(module, attribute)
    return _imported_problem(module, attribute)


def check_factories(stages: Iterable[_Stage]) -> None:
    """Raise one :class:`PluginError` naming every stage whose factory string cannot be
    resolved: where the recipe uses it, the plugin, its distribution, the factory and why."""
    problems: list[str] = []
    seen: dict[str, str | None] = {}
    for stage in stages:
        spec = stage.spec
        if not isinstance(spec.factory, str):
            continue
        if spec.factory not in seen:
            seen[spec.factory] = factory_problem(spec.factory)
        problem = seen[spec.factory]
        if problem is not None:
            dist = f"{spec.distribution or 'unknown'} {spec.version}".strip()
            problems.append(
                f"{stage.path}: the {spec.family.value} stage '{spec.name}' (from {dist}) cannot "
                f"be built: its factory '{spec.factory}' fails ({problem})."
            )
    if problems:
        raise PluginError(
            f"{' '.join(problems)} The recipe is valid, but the plugin that registers the stage "
            "is broken: reinstall it (pip install --force-reinstall ...) or report the factory "
            "string to its authors; `recsys-kit plugins` lists where each stage comes from."
        )
