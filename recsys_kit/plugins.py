"""Plugin-manager factory: loads entry points, reports failures and clashes by name."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import metadata
from types import ModuleType

import pluggy

from recsys_kit import hookspecs
from recsys_kit.stages import StageRegistry, StageSpec

ENTRY_POINT_GROUP = "recsys_kit"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded: its entry point, distribution and the error."""

    name: str
    distribution: str
    error: str


@dataclass
class Plugins:
    """A plugin manager with its stage registry and the plugins that failed to load."""

    manager: pluggy.PluginManager
    registry: StageRegistry
    failures: list[PluginFailure] = field(default_factory=list)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay, for calling lifecycle hooks."""
        return self.manager.hook


def _dist_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown", ""
    return dist.metadata["Name"], dist.version


def make_plugins(
    *,
    entry_points: bool = True,
    extra: Iterable[ModuleType | object] = (),
) -> Plugins:
    """Build a fresh plugin manager (never a global one).

    ``entry_points`` loads every module of the ``recsys_kit`` entry-point group, built-ins
    included; ``extra`` adds plugin objects directly (tests, notebooks). A plugin that fails
    to import is recorded in ``failures`` and the others still load.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    failures: list[PluginFailure] = []
    owners: dict[str, tuple[str, str]] = {}
    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist, version = _dist_of(ep)
            try:
                module = importlib.import_module(ep.value)
            except Exception as exc:  # a broken plugin must not take the others down
                failures.append(PluginFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
                continue
            if pm.is_registered(module):
                continue
            pm.register(module, name=f"{dist}:{ep.name}")
            owners[f"{dist}:{ep.name}"] = (dist, version)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or repr(plugin)
        if not pm.is_registered(plugin):
            pm.register(plugin, name=name)
            owners[name] = ("<local>", "")
    registry = StageRegistry()
    # One hookimpl at a time, so that every stage is attributed to its distribution.
    for impl in pm.hook.register_stages.get_hookimpls():
        plugin_name = impl.plugin_name
        dist, version = owners.get(plugin_name, ("<local>", ""))
        try:
            specs: list[StageSpec] = list(impl.function() or [])
        except Exception as exc:
            failures.append(PluginFailure(plugin_name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        for spec in specs:
            registry.add(_owned(spec, dist, version))
    return Plugins(manager=pm, registry=registry, failures=failures)


def _owned(spec: StageSpec, dist: str, version: str) -> StageSpec:
    return replace(spec, distribution=spec.distribution or dist, version=spec.version or version)
