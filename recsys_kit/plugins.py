"""Plugin-manager factory: loads entry points, reports failures and clashes by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import metadata

import pluggy

from recsys_kit import hookspecs
from recsys_kit.errors import PluginError, did_you_mean
from recsys_kit.stages import StageClash, StageRegistry, StageSpec

ENTRY_POINT_GROUP = "recsys_kit"
#: The distribution given to plugins passed directly (``make_plugins(extra=...)``).
LOCAL = "<local>"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded: its entry point, distribution and the error."""

    name: str
    distribution: str
    error: str


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin: its name in the manager, distribution and version."""

    name: str
    distribution: str
    version: str


@dataclass
class Plugins:
    """A plugin manager with its stage registry, and what went wrong while building it.

    ``failures`` are plugins that could not be loaded (their stages are unavailable);
    ``clashes`` are stages registered twice (the first one is kept). Commands that use stages
    call :meth:`check_clashes`; listing them (``recsys-kit plugins``) shows both.
    """

    manager: pluggy.PluginManager
    registry: StageRegistry
    failures: list[PluginFailure] = field(default_factory=list)
    clashes: list[StageClash] = field(default_factory=list)
    loaded: list[PluginInfo] = field(default_factory=list)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay, for calling lifecycle hooks."""
        return self.manager.hook

    def list_plugin_distinfo(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution and version.

        The counterpart of pluggy's ``PluginManager.list_plugin_distinfo``, which stays empty
        here because recsys-kit loads the entry points itself (to survive broken plugins).
        """
        return list(self.loaded)

    def check_clashes(self) -> None:
        """Raise one paragraph naming every clash, both distributions and the fix."""
        if self.clashes:
            raise PluginError(" ".join(clash.message() for clash in self.clashes))


def _dist_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown", ""
    return dist.metadata["Name"], dist.version


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class _Builder:
    """Registers plugins one at a time, recording each failure by plugin name."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.owners: dict[str, PluginInfo] = {}  # by name in the manager
        self.labels: dict[str, str] = {}  # name in the manager -> name shown in failures

    def fail(self, name: str, error: str) -> None:
        """Record a failure of the registered plugin ``name``."""
        info = self.owners.get(name, PluginInfo(name, LOCAL, ""))
        self.failures.append(PluginFailure(self.labels.get(name, name), info.distribution, error))

    def register(self, plugin: object, info: PluginInfo, label: str) -> None:
        """Register ``plugin``; hook implementations with wrong arguments are a failure."""
        if self.pm.is_registered(plugin):
            return  # a module named by two entry points
        try:
            self.pm.register(plugin, name=info.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.failures.append(PluginFailure(label, info.distribution, _one_line(exc)))
            return
        self.owners[info.name] = info
        self.labels[info.name] = label

    def check_pending(self) -> None:
        """Unregister, as a failure, every plugin that implements a hook that does not exist."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
                self.fail(name, self._unknown_hooks(exc.plugin))
                self.pm.unregister(exc.plugin)
                self.owners.pop(name, None)

    def _unknown_hooks(self, plugin: object) -> str:
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(caller.name for caller in callers if not caller.has_spec())
        known = [name for name, caller in vars(self.pm.hook).items()
                 if not name.startswith("_") and caller.has_spec()]
        hints = "".join(did_you_mean(name, known) for name in unknown)
        return (f"unknown hook {', '.join(repr(n) for n in unknown)}: recsys-kit has no such "
                f"hook (see recsys_kit/hookspecs.py).{hints}")

    def register_stages(self) -> tuple[StageRegistry, list[StageClash]]:
        """Call every ``register_stages`` implementation, one at a time, so that each stage is
        attributed to its distribution; a stage registered twice keeps the first."""
        registry = StageRegistry()
        clashes: list[StageClash] = []
        for impl in self.pm.hook.register_stages.get_hookimpls():
            info = self.owners.get(impl.plugin_name, PluginInfo(impl.plugin_name, LOCAL, ""))
            try:
                specs = list(impl.function() or [])
            except Exception as exc:
                self.fail(impl.plugin_name, _one_line(exc))
                continue
            wrong = [spec for spec in specs if not isinstance(spec, StageSpec)]
            if wrong:
                self.fail(impl.plugin_name, f"register_stages returned {wrong[0]!r}, which is "
                                            "not a StageSpec")
                continue
            for spec in specs:
                owned = replace(spec, distribution=spec.distribution or info.distribution,
                                version=spec.version or info.version)
                kept = registry.find(owned.family, owned.name)
                if kept is None:
                    registry.add(owned)
                else:
                    clashes.append(StageClash(kept, owned))
        return registry, clashes


def make_plugins(
    *,
    entry_points: bool = True,
    extra: Iterable[object] = (),
) -> Plugins:
    """Build a fresh plugin manager (never a global one).

    ``entry_points`` loads every object of the ``recsys_kit`` entry-point group (a module, or
    ``module:attribute``), built-ins included; ``extra`` adds plugin objects directly (tests,
    notebooks), attributed to the distribution ``<local>``. A plugin that fails to load, whose
    hook implementations do not match their hooks, whose ``register_stages`` raises, or that
    implements a hook that does not exist, is recorded in ``failures``; the others still load.
    A stage registered twice keeps its first registration and is recorded in ``clashes``.
    """
    builder = _Builder()
    if entry_points:
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(found, key=lambda e: (e.name, e.value)):
            dist, version = _dist_of(ep)
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                builder.failures.append(PluginFailure(ep.name, dist, _one_line(exc)))
                continue
            builder.register(plugin, PluginInfo(f"{dist}:{ep.name}", dist, version), ep.name)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or repr(plugin)
        builder.register(plugin, PluginInfo(name, LOCAL, ""), name)
    builder.check_pending()
    registry, clashes = builder.register_stages()
    return Plugins(manager=builder.pm, registry=registry, failures=builder.failures,
                   clashes=clashes, loaded=list(builder.owners.values()))
