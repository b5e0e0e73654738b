"""`validate` finds a plugin's broken `"module:attr"` factory before any run starts.

Built-in factories are checked from their source (no torch import); other plugins' factories
are imported (not called).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recsys_kit.errors import PluginError
from recsys_kit.hookspecs import hookimpl
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.factories import factory_problem
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.stages import Family, NoParams, StageSpec
from recsys_kit.testing import tiny

ROOT = Path(__file__).resolve().parents[1]


def _plugin(factory: str) -> object:
    class Broken:
        """A third-party plugin whose user encoder's factory string is given."""

        @staticmethod
        @hookimpl
        def register_stages() -> list[StageSpec]:
            return [StageSpec(Family.USER_ENCODER, "broken", NoParams, factory, "broken")]

    return Broken


def _validate(tmp_path: Path, factory: str) -> None:
    plugins = make_plugins(extra=[_plugin(factory)])
    recipe = tiny(tmp_path / "runs", "model.encoders.user.plugin=broken",
                  "model.encoders.user.params={}")
    validate_mapping(recipe, plugins.registry)


def test_a_third_party_factory_with_a_typo_is_a_plugin_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin_model.py").write_text("def build(config, shape):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _validate(tmp_path, "broken_plugin_model:build")  # the right name passes
    with pytest.raises(PluginError) as info:
        _validate(tmp_path, "broken_plugin_model:biuld")
    message = str(info.value)
    assert "model.encoders.user" in message and "'broken'" in message
    assert "<local>" in message  # the distribution
    assert "'broken_plugin_model:biuld'" in message
    assert "has no attribute 'biuld'" in message


def test_a_third_party_factory_whose_import_fails_reports_the_import_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_missing_dep.py").write_text("import not_installed_anywhere\nbuild = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="No module named 'not_installed_anywhere'"):
        _validate(tmp_path, "needs_missing_dep:build")


def test_built_in_factories_are_checked_from_source() -> None:
    assert factory_problem("recsys_kit.nn.encoders.sasrec:build_sasrec") is None
    assert "has no attribute 'build_sasrek'" in factory_problem(
        "recsys_kit.nn.encoders.sasrec:build_sasrek")
    assert "No module named 'recsys_kit.nn.encoders.sasrek'" in factory_problem(
        "recsys_kit.nn.encoders.sasrek:build_sasrec")
    assert "form 'module:attribute'" in factory_problem("recsys_kit.nn.encoders.sasrec")


def test_every_built_in_factory_resolves() -> None:
    for spec in make_plugins().registry:
        if isinstance(spec.factory, str):
            assert factory_problem(spec.factory) is None, spec


PROBE = textwrap.dedent("""
    import sys
    from recsys_kit.recipe.factories import factory_problem
    assert factory_problem("recsys_kit.nn.encoders.sasrec:build_sasrec") is None
    problem = factory_problem("recsys_kit.nn.encoders.sasrec:build_sasrek")
    print("torch" in sys.modules, "build_sasrek" in problem)
""")


def test_checking_a_built_in_factory_imports_no_torch() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr
