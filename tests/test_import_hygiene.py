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
import recsys_kit.api
from recsys_kit.api import Family, StageConfig, StageSpec, hookimpl, EvalResult, Ranking
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


RUN_START = """
import sys
from recsys_kit.runner.context import seed_everything
from recsys_kit.runner.pipeline import Runner
import torch
seed_everything(42, deterministic=True)
assert torch.are_deterministic_algorithms_enabled()
heavy = sorted(m for m in ("transformers", "textual", "torch._inductor.config")
               if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_a_run_reaches_its_data_stages_without_the_compiler_or_text_models() -> None:
    """What `recsys-kit run` imports before its first data stage (start-up, issue 10): the
    compiler's settings (about a second) only with train.compile, transformers only in text
    stages."""
    out = subprocess.run([sys.executable, "-c", RUN_START], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "none", out.stdout
