"""The plugin door: recsys_kit.api holds every name plugins need, documented, torch kept lazy;
the plugins shipped in this repository import nothing else from recsys_kit."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import recsys_kit.api as api

ROOT = Path(__file__).resolve().parents[1]


def _recsys_kit_imports(path: Path) -> list[str]:
    """Every ``recsys_kit...`` module a file imports (``import x`` and ``from x import``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n == "recsys_kit" or n.startswith("recsys_kit.")]
    return found


def test_plugins_import_only_the_api() -> None:
    sources = sorted(ROOT.glob("plugins/*/src/**/*.py"))
    assert len(sources) >= 3
    offending = {f"{p.relative_to(ROOT)}: {m}" for p in sources
                 for m in _recsys_kit_imports(p) if m != "recsys_kit.api"}
    assert not offending, offending


def test_the_import_check_sees_other_modules(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import recsys_kit.stages\nfrom recsys_kit.api import hookimpl\n"
                     "from recsys_kit import hookimpl as h\nimport recsys_kit_gru4rec\n")
    assert _recsys_kit_imports(probe) == ["recsys_kit.stages", "recsys_kit.api", "recsys_kit"]


def test_every_public_name_resolves_and_is_documented() -> None:
    doc = (ROOT / "docs" / "writing-plugins.md").read_text()
    section = doc[doc.index("## 11. The plugin API"):]
    for name in api.__all__:
        value = getattr(api, name)
        assert f"`{name}`" in section, f"{name} missing from writing-plugins.md section 11"
        assert name in (api.__doc__ or ""), f"{name} missing from the api module docstring"
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
    assert sorted(api.__all__) == sorted(set(api.__all__))


def test_lazy_names_are_the_real_classes() -> None:
    from recsys_kit.nn.model import ModelShape, UserEncoder
    from recsys_kit.runner.context import RunContext

    assert api.ModelShape is ModelShape
    assert api.UserEncoder is UserEncoder
    assert api.RunContext is RunContext
    assert set(api.LAZY) <= set(api.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        api.NotAThing  # noqa: B018
    except AttributeError as exc:
        assert "NotAThing" in str(exc)
    else:
        raise AssertionError("api.NotAThing resolved")
