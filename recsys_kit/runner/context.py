"""What stages receive: the data context (DuckDB + reporting) and the run context."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from rich.console import Console

if TYPE_CHECKING:
    import torch

    from recsys_kit.plugins import Plugins
    from recsys_kit.recipe.loader import LoadedRecipe
    from recsys_kit.runner.distributed import Ranks


@dataclass
class DataContext:
    """Given to data stages: an in-memory DuckDB connection, the seed, and a console.

    Ingest stages create the ``interactions`` (and optional ``items``) tables in ``con``;
    split stages create ``split_interactions``; see ``recsys_kit.columns``. ``quote_rows``
    False (pseudonymised users) forbids quoting input rows in messages: they hold raw ids.
    """

    con: duckdb.DuckDBPyConnection
    seed: int = 42
    console: Console = field(default_factory=lambda: Console(stderr=True))
    notes: dict[str, Any] = field(default_factory=dict)
    quote_rows: bool = True

    def report(self, stage: str, message: str) -> None:
        """Print one line about what a stage did (rows read, kept, dropped)."""
        self.console.print(f"[bold cyan]{stage}[/] {message}", highlight=False)
        self.notes.setdefault(stage, []).append(message)


def resolve_device(requested: str) -> torch.device:
    """The one place where a device is chosen: ``auto`` takes CUDA, then MPS, then CPU."""
    import torch

    from recsys_kit.errors import RecsysKitError

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RecsysKitError(
            f"The recipe asks for device '{requested}' but no CUDA device is available. "
            "Use `--set device=auto` (or cpu) to run on this machine."
        )
    device = torch.device(requested)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RecsysKitError(
            f"The recipe asks for device '{requested}' but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 ...). Use `--set device=cuda`."
        )
    return device


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch (all devices); with ``deterministic``, make PyTorch use
    only deterministic kernels, so that the same seed, machine and settings give the same
    results (the faster nondeterministic kernels are mostly CUDA atomics, e.g. scatter-adds in
    the embedding backward)."""
    import os
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_kernels(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def deterministic_kernels(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=True)``, without the import of the
    compiler's settings it makes (about a second of every start-up) while the compiler is not
    loaded: ``train.compile`` calls the public function again before compiling."""
    import sys

    import torch

    if "torch._inductor.config" in sys.modules or not hasattr(
            torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=True)


@dataclass
class RunContext:
    """Given to lifecycle hooks and model stages: the run's id, recipe, device and paths.

    ``attempt`` counts the run's starts: 1 for a new run, 2 or more when it resumes.
    ``ranks`` says which process of a torchrun launch this is (``ranks.is_main``: rank 0, the
    one that writes results); one process outside torchrun.
    """

    run_id: str
    loaded: LoadedRecipe
    device: torch.device
    out_dir: Path
    plugins: Plugins
    console: Console
    attempt: int = 1
    ranks: Ranks = field(default_factory=lambda: _single())

    @property
    def recipe(self) -> dict[str, Any]:
        """The effective recipe as a plain mapping (what the run records)."""
        return self.loaded.effective

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.loaded.recipe.seed

    @property
    def cache_dir(self) -> Path:
        """Derived files reused across runs writing to the same output directory."""
        return self.out_dir / "cache"

    @property
    def artifacts_dir(self) -> Path:
        """Where this run's files go (checkpoint, ...)."""
        path = self.out_dir / "artifacts" / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path


def _single() -> Ranks:
    """One process (not launched by torchrun); imported late to keep torch off fast paths."""
    from recsys_kit.runner.distributed import Ranks

    return Ranks()
