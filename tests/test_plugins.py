"""The plugin manager: entry points, failures and clashes by name, and every lifecycle hook.

Every test builds its own manager with `make_plugins` (there is no global one); fake entry
points replace `importlib.metadata.entry_points` where a test needs broken or clashing
distributions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest
from rich.console import Console

import recsys_kit
from recsys_kit import hookspecs
from recsys_kit.errors import DataError, PluginError
from recsys_kit.plugins import ENTRY_POINT_GROUP, LOCAL, Plugins, make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.context import RunContext
from recsys_kit.runner.pipeline import Runner, RunOutcome
from recsys_kit.stages import Family, NoParams, StageRegistry, StageSpec
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny

REPO = Path(__file__).resolve().parents[1]
HOOKSPECS = REPO / "recsys_kit" / "hookspecs.py"
HOOKS_DOC = REPO / "docs" / "plugin-hooks.md"
BUILTIN_MODULES = {"ingest", "split", "tokenize", "encoders", "fusion", "scorers", "evaluators"}


# -- fake distributions and plugins ----------------------------------------------------------


@dataclass
class FakeDist:
    """The part of `importlib.metadata.Distribution` that `make_plugins` reads."""

    name: str
    version: str

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


@dataclass
class FakeEntryPoint:
    """An entry point whose `load()` returns ``target``, or raises it if it is an exception."""

    name: str
    target: object
    dist: FakeDist | None
    value: str = "fake.module"

    def load(self) -> object:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def use_entry_points(monkeypatch: pytest.MonkeyPatch, *entry_points: FakeEntryPoint) -> None:
    """Make `make_plugins` see exactly these entry points."""

    def fake(*, group: str) -> list[FakeEntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return list(entry_points)

    monkeypatch.setattr(metadata, "entry_points", fake)


def stage_plugin(name: str, *stages: tuple[Family, str]) -> ModuleType:
    """A plugin module whose `register_stages` returns stages without params."""
    module = ModuleType(name)

    @recsys_kit.hookimpl
    def register_stages() -> list[StageSpec]:
        return [StageSpec(family, stage, NoParams, lambda config: None, f"{stage} from {name}")
                for family, stage in stages]

    module.register_stages = register_stages  # type: ignore[attr-defined]
    return module


def failure_names(plugins: Plugins) -> list[str]:
    return [f.name for f in plugins.failures]


# -- built-ins ---------------------------------------------------------------------------------


def test_builtins_register_through_the_entry_point_group() -> None:
    plugins = make_plugins()
    assert plugins.failures == [] and plugins.clashes == []
    version = metadata.version("recsys-kit")
    for family in Family:
        builtin = [s for s in plugins.registry if s.family is family
                   and s.distribution == "recsys-kit"]
        assert builtin, f"no built-in {family.value} stage"
        assert all(s.version == version for s in builtin)
    ours = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
            if ep.dist is not None and ep.dist.metadata["Name"] == "recsys-kit"}
    assert ours == BUILTIN_MODULES


def test_without_entry_points_no_stage_is_registered() -> None:
    plugins = make_plugins(entry_points=False)
    assert len(plugins.registry) == 0
    assert plugins.list_plugin_distinfo() == []


def test_list_plugin_distinfo_shows_distributions_and_versions() -> None:
    local = stage_plugin("local_stages", (Family.FUSION, "local_fusion"))
    plugins = make_plugins(extra=[local])
    info = {i.name: (i.distribution, i.version) for i in plugins.list_plugin_distinfo()}
    version = metadata.version("recsys-kit")
    for module in BUILTIN_MODULES:
        assert info[f"recsys-kit:{module}"] == ("recsys-kit", version)
    assert info["local_stages"] == (LOCAL, "")
    assert plugins.registry.get(Family.FUSION, "local_fusion").distribution == LOCAL


def test_hookimpl_is_exported_and_import_is_cheap() -> None:
    assert recsys_kit.hookimpl is hookspecs.hookimpl
    assert recsys_kit.hookspec is hookspecs.hookspec
    code = ("import sys, recsys_kit; "
            "print(sorted(m for m in ('torch', 'pydantic', 'duckdb', 'rich', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- entry points ------------------------------------------------------------------------------


def test_broken_plugin_is_reported_by_name_and_others_load(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    good = stage_plugin("good_plugin", (Family.USER_ENCODER, "good_encoder"))
    use_entry_points(
        monkeypatch,
        FakeEntryPoint("broken", ModuleNotFoundError("No module named 'torch_foo'"),
                       FakeDist("broken-dist", "0.3")),
        FakeEntryPoint("good", good, FakeDist("good-dist", "1.2")),
        FakeEntryPoint("raises", RuntimeError("boom\nat import"), FakeDist("raising-dist", "1")),
    )
    plugins = make_plugins()
    failures = {f.name: f for f in plugins.failures}
    assert set(failures) == {"broken", "raises"}
    assert failures["broken"].distribution == "broken-dist"
    assert failures["broken"].error == "ModuleNotFoundError: No module named 'torch_foo'"
    assert failures["raises"].error == "RuntimeError: boom at import"  # one line
    spec = plugins.registry.get(Family.USER_ENCODER, "good_encoder")
    assert (spec.distribution, spec.version) == ("good-dist", "1.2")


def test_entry_point_may_name_an_attribute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                                           ) -> None:
    (tmp_path / "rk_attr_plugin.py").write_text(
        "from recsys_kit import hookimpl\n"
        "from recsys_kit.stages import Family, NoParams, StageSpec\n\n\n"
        "class _Plugin:\n"
        "    @hookimpl\n"
        "    def register_stages(self):\n"
        "        return [StageSpec(Family.SCORER, 'attr_scorer', NoParams,\n"
        "                          lambda config, shape: None)]\n\n\n"
        "plugin = _Plugin()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint(name="attr", value="rk_attr_plugin:plugin", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda *, group: [ep])
    plugins = make_plugins()
    assert plugins.failures == []
    assert plugins.registry.get(Family.SCORER, "attr_scorer").distribution == "unknown"


def test_module_named_by_two_entry_points_registers_once(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    module = stage_plugin("twice", (Family.SPLIT, "twice_split"))
    dist = FakeDist("twice-dist", "1")
    use_entry_points(monkeypatch, FakeEntryPoint("a", module, dist),
                     FakeEntryPoint("b", module, dist))
    plugins = make_plugins()
    assert plugins.failures == [] and plugins.clashes == []
    assert plugins.registry.names(Family.SPLIT) == ["twice_split"]


# -- clashes -----------------------------------------------------------------------------------


def test_clash_keeps_the_first_and_names_both_distributions(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    first = stage_plugin("first", (Family.USER_ENCODER, "same"), (Family.FUSION, "only_first"))
    second = stage_plugin("second", (Family.USER_ENCODER, "same"), (Family.SCORER, "only_2nd"))
    use_entry_points(monkeypatch, FakeEntryPoint("a_first", first, FakeDist("dist-one", "1")),
                     FakeEntryPoint("b_second", second, FakeDist("dist-two", "2")))
    plugins = make_plugins()
    assert plugins.failures == []
    assert plugins.registry.get(Family.USER_ENCODER, "same").distribution == "dist-one"
    assert plugins.registry.find(Family.FUSION, "only_first") is not None
    assert plugins.registry.find(Family.SCORER, "only_2nd") is not None
    [clash] = plugins.clashes
    assert (clash.kept.distribution, clash.rejected.distribution) == ("dist-one", "dist-two")
    with pytest.raises(PluginError) as info:
        plugins.check_clashes()
    text = str(info.value)
    assert "user_encoder stage 'same'" in text
    assert "dist-one" in text and "dist-two" in text
    assert "Uninstall one of them" in text
    assert "\n" not in text


def test_same_name_in_two_families_is_no_clash() -> None:
    plugin = stage_plugin("two_families", (Family.USER_ENCODER, "x"), (Family.EVALUATOR, "x"))
    plugins = make_plugins(entry_points=False, extra=[plugin])
    assert plugins.clashes == []
    assert plugins.registry.families_of("x") == [Family.USER_ENCODER, Family.EVALUATOR]


def test_registry_add_refuses_a_duplicate() -> None:
    spec = StageSpec(Family.SPLIT, "dup", NoParams, lambda c: None, distribution="a")
    registry = StageRegistry([spec])
    with pytest.raises(PluginError, match="'dup': a and b"):
        registry.add(StageSpec(Family.SPLIT, "dup", NoParams, lambda c: None, distribution="b"))


# -- hook implementations that do not fit ------------------------------------------------------


class WrongArguments:
    """`before_run` takes an argument the hook does not have."""

    __name__ = "wrong_arguments"

    @recsys_kit.hookimpl
    def before_run(self, run: RunContext, verbose: bool) -> None:  # pragma: no cover
        raise AssertionError("never registered, never called")


class MisspeltHook:
    """`befor_run` is not a hook."""

    __name__ = "misspelt_hook"

    @recsys_kit.hookimpl
    def befor_run(self, run: RunContext) -> None:  # pragma: no cover
        raise AssertionError("never registered, never called")

    @recsys_kit.hookimpl
    def register_stages(self) -> list[StageSpec]:  # pragma: no cover
        raise AssertionError("the plugin is unregistered, so this is never called")


def test_wrong_hook_arguments_are_a_failure_of_that_plugin() -> None:
    fine = stage_plugin("fine", (Family.FUSION, "fine_fusion"))
    plugins = make_plugins(entry_points=False, extra=[WrongArguments(), fine])
    [failure] = plugins.failures
    assert (failure.name, failure.distribution) == ("wrong_arguments", LOCAL)
    assert "before_run" in failure.error and "verbose" in failure.error
    assert "PluginValidationError" in failure.error
    assert plugins.manager.get_plugin("wrong_arguments") is None
    assert plugins.registry.find(Family.FUSION, "fine_fusion") is not None


def test_misspelt_hook_is_a_failure_naming_the_plugin() -> None:
    fine = stage_plugin("fine", (Family.FUSION, "fine_fusion"))
    plugins = make_plugins(entry_points=False, extra=[MisspeltHook(), fine])
    [failure] = plugins.failures
    assert failure.name == "misspelt_hook"
    assert "unknown hook 'befor_run'" in failure.error
    assert "Did you mean 'before_run'?" in failure.error
    assert plugins.manager.get_plugin("misspelt_hook") is None
    assert [i.name for i in plugins.list_plugin_distinfo()] == ["fine"]
    assert plugins.registry.find(Family.FUSION, "fine_fusion") is not None


def test_misspelt_hook_from_an_entry_point_names_the_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dist = FakeDist("typo-dist", "1")
    use_entry_points(monkeypatch, FakeEntryPoint("typo", MisspeltHook(), dist))
    plugins = make_plugins()
    [failure] = plugins.failures
    assert (failure.name, failure.distribution) == ("typo", "typo-dist")


class RaisingRegistration:
    __name__ = "raising_registration"

    @recsys_kit.hookimpl
    def register_stages(self) -> list[StageSpec]:
        raise ValueError("cannot build my stages")


class NotASpec:
    __name__ = "not_a_spec"

    @recsys_kit.hookimpl
    def register_stages(self) -> list[Any]:
        return [("user_encoder", "tuple_encoder")]


def test_register_stages_that_raises_or_returns_junk_is_a_failure() -> None:
    fine = stage_plugin("fine", (Family.FUSION, "fine_fusion"))
    plugins = make_plugins(entry_points=False, extra=[RaisingRegistration(), NotASpec(), fine])
    failures = {f.name: f.error for f in plugins.failures}
    assert failures["raising_registration"] == "ValueError: cannot build my stages"
    assert "not a StageSpec" in failures["not_a_spec"]
    assert [s.name for s in plugins.registry] == ["fine_fusion"]


# -- the hooks are documented ------------------------------------------------------------------


def hook_signatures() -> dict[str, str]:
    """Every hook in hookspecs.py with its signature as written, e.g.
    ``before_run(run: RunContext) -> None``."""
    tree = ast.parse(HOOKSPECS.read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Name) and d.id == "hookspec" for d in node.decorator_list
        ):
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            out[node.name] = f"{node.name}({ast.unparse(node.args)}){returns}"
    return out


def test_hookspecs_are_found() -> None:
    hooks = hook_signatures()
    assert hooks["before_run"] == "before_run(run: RunContext) -> None"
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    declared = {name for name, caller in vars(pm.hook).items()
                if not name.startswith("_") and caller.has_spec()}
    assert set(hooks) == declared


@pytest.mark.parametrize("hook", sorted(hook_signatures()))
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    doc = HOOKS_DOC.read_text(encoding="utf-8")
    assert f"`{hook_signatures()[hook]}`" in doc, f"{hook} is not documented in {HOOKS_DOC}"


# -- every hook, called by real runs -----------------------------------------------------------


@dataclass
class Recorder:
    """A plugin that implements every lifecycle hook and records each call."""

    __name__ = "recorder"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _record(self, hook: str, **kwargs: Any) -> None:
        self.calls.append((hook, kwargs))

    def named(self, hook: str) -> list[dict[str, Any]]:
        """The arguments of every call of ``hook``, in order."""
        return [kwargs for name, kwargs in self.calls if name == hook]

    @recsys_kit.hookimpl
    def register_stages(self) -> list[StageSpec]:
        self._record("register_stages")
        return []

    @recsys_kit.hookimpl
    def before_run(self, run: RunContext) -> None:
        self._record("before_run", run=run)

    @recsys_kit.hookimpl
    def after_run(self, run: RunContext, status: str, metrics: dict[str, float]) -> None:
        self._record("after_run", run=run, status=status, metrics=metrics)

    @recsys_kit.hookimpl
    def on_error(self, run: RunContext, error: BaseException) -> None:
        self._record("on_error", run=run, error=error)

    @recsys_kit.hookimpl
    def before_stage(self, run: RunContext, family: str, name: str) -> None:
        self._record("before_stage", run=run, family=family, name=name)

    @recsys_kit.hookimpl
    def after_stage(self, run: RunContext, family: str, name: str, seconds: float) -> None:
        self._record("after_stage", run=run, family=family, name=name, seconds=seconds)

    @recsys_kit.hookimpl
    def before_epoch(self, run: RunContext, epoch: int) -> None:
        self._record("before_epoch", run=run, epoch=epoch)

    @recsys_kit.hookimpl
    def after_epoch(self, run: RunContext, epoch: int, metrics: dict[str, Any]) -> None:
        self._record("after_epoch", run=run, epoch=epoch, metrics=metrics)


@dataclass
class Recorded:
    """A recorded run: its outcome, the recorder and the results directory."""

    outcome: RunOutcome
    recorder: Recorder
    out_dir: Path


def record_run(out_dir: Path, *overrides: str) -> Recorded:
    """Run the tiny recipe (with ``overrides``) with a Recorder registered next to the built-ins."""
    recorder = Recorder()
    plugins = make_plugins(extra=[recorder])
    assert plugins.failures == []
    loaded = validate_mapping(tiny(out_dir, *overrides), plugins.registry)
    [outcome] = Runner(plugins, Console(quiet=True)).run(loaded)
    return Recorded(outcome, recorder, out_dir)


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The tiny recipe, run once, every hook recorded."""
    return record_run(tmp_path_factory.mktemp("hooks") / "runs")


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A run whose `sequences` input file does not exist."""
    root = tmp_path_factory.mktemp("failing")
    return record_run(root / "runs", "data.ingest.plugin=sequences",
                      f"data.ingest.params={{path: {root / 'missing.txt'}}}")


def test_completed_run_calls_the_run_hooks(completed: Recorded) -> None:
    recorder, outcome = completed.recorder, completed.outcome
    assert outcome.status == "completed", outcome.error
    names = [name for name, _ in recorder.calls if name != "register_stages"]
    assert names[0] == "before_run" and names[-1] == "after_run"
    [before] = recorder.named("before_run")
    run = before["run"]
    assert isinstance(run, RunContext)
    assert run.run_id == outcome.run_id
    assert run.recipe["name"] == "tiny"
    assert run.recipe == run.loaded.effective
    [after] = recorder.named("after_run")
    assert after["run"] is run
    assert after["status"] == "completed"
    assert after["metrics"] == outcome.metrics
    assert {"ndcg@10", "hr@5"} <= set(after["metrics"])
    assert recorder.named("on_error") == []


def test_completed_run_calls_the_stage_hooks_in_order(completed: Recorded) -> None:
    recorder = completed.recorder
    expected = [("ingest", "synthetic"), ("split", "leave_one_out"), ("tokenize", "item_ids"),
                ("train", "sasrec"), ("evaluate", "test")]
    assert [(c["family"], c["name"]) for c in recorder.named("before_stage")] == expected
    assert [(c["family"], c["name"]) for c in recorder.named("after_stage")] == expected
    assert all(c["seconds"] >= 0 for c in recorder.named("after_stage"))
    # each stage's after_stage comes before the next stage's before_stage
    stage_calls = [name for name, _ in recorder.calls if name.endswith("_stage")]
    assert stage_calls == ["before_stage", "after_stage"] * len(expected)


def test_completed_run_calls_the_epoch_hooks(completed: Recorded) -> None:
    recorder = completed.recorder
    epochs = tiny(completed.out_dir)["train"]["epochs"]
    assert [c["epoch"] for c in recorder.named("before_epoch")] == list(range(1, epochs + 1))
    after = recorder.named("after_epoch")
    assert [c["epoch"] for c in after] == list(range(1, epochs + 1))
    for call in after:
        assert call["metrics"]["loss"] > 0
        assert 0.0 <= call["metrics"]["ndcg@10"] <= 1.0
    sequence = [(name, kwargs.get("family")) for name, kwargs in recorder.calls]
    start, end = sequence.index(("before_stage", "train")), sequence.index(("after_stage", "train"))
    inside = [i for i, (name, _) in enumerate(sequence) if name.endswith("_epoch")]
    assert inside and all(start < i < end for i in inside)  # epochs run inside the train stage
    _, rows = ResultStore.in_dir(completed.out_dir).query(
        "SELECT epoch FROM metrics WHERE run_id = ? AND split = 'train' AND metric = 'loss' "
        "ORDER BY epoch",
        [completed.outcome.run_id])
    assert [r[0] for r in rows] == [c["epoch"] for c in after]


def test_failed_run_calls_on_error_and_marks_the_row_failed(failed: Recorded) -> None:
    recorder, outcome = failed.recorder, failed.outcome
    assert outcome.status == "failed"
    assert isinstance(outcome.error, DataError)
    [call] = recorder.named("on_error")
    assert call["error"] is outcome.error
    assert call["run"].run_id == outcome.run_id
    assert recorder.named("after_run") == []
    assert [name for name, _ in recorder.calls][-1] == "on_error"
    _, rows = ResultStore.in_dir(failed.out_dir).query(
        "SELECT status, error FROM runs WHERE run_id = ?", [outcome.run_id])
    [(status, error)] = rows
    assert status == "failed"
    assert "does not exist" in error and "missing.txt" in error


def test_every_hook_is_exercised(completed: Recorded, failed: Recorded) -> None:
    called = {name for r in (completed, failed) for name, _ in r.recorder.calls}
    assert called == set(hook_signatures())


def test_recorder_implements_every_hook() -> None:
    implemented: set[str] = {
        name for name, value in vars(Recorder).items()
        if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_impl")
    }
    assert implemented == set(hook_signatures())


def test_the_documented_evaluator_example_runs_and_reaches_sql(tmp_path) -> None:
    """docs/writing-plugins.md's whole evaluator, executed as written, in a real run."""
    import re
    import types
    from pathlib import Path

    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore
    from recsys_kit.testing import tiny

    doc = (Path(__file__).resolve().parents[1] / "docs/writing-plugins.md").read_text()
    section = doc[doc.index("**A whole evaluator.**"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("tail_hits_example")
    exec(compile(code, "writing-plugins.md", "exec"), module.__dict__)
    plugins = make_plugins(extra=[module])
    recipe = tiny(tmp_path / "runs", "evaluate=[{plugin: ranking, params: {k: [10]}}, "
                  "{plugin: tail_hits, params: {k: [10, 20]}}]")
    (outcome,) = Runner(plugins, Console(quiet=True)).run(
        validate_mapping(recipe, plugins.registry))
    assert outcome.status == "completed", outcome.error
    _, rows = ResultStore.in_dir(tmp_path / "runs").query(
        "SELECT k, value FROM metrics WHERE metric = 'tail_hr' AND split = 'test' ORDER BY k")
    assert [k for k, _ in rows] == [10, 20] and all(0 <= v <= 1 for _, v in rows)
