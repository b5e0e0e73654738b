"""The fast commands (validate, plugins, schema, sql) import no torch, transformers or textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe import load_recipe
from recsys_kit.recipe.schema import recipe_json_schema
from recsys_kit.store import ResultStore
from recsys_kit.store.readonly import query
plugins = make_plugins()
load_recipe("recipes/quickstart.yaml", plugins.registry)
recipe_json_schema(plugins.registry)
heavy = sorted(m for m in ("torch", "transformers", "textual") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_validation_and_schema_do_not_import_heavy_libraries() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "none", out.stdout
