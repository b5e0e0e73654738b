"""Load a run: its effective recipe, serving bundle and best weights; no data stages run."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from safetensors import SafetensorError

from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.model import DirectRecommender
from recsys_kit.nn.training import checkpoints
from recsys_kit.plugins import Plugins, make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.context import RunContext, resolve_device
from recsys_kit.runner.modelling import build_model
from recsys_kit.serving.bundle import read_bundle
from recsys_kit.serving.locate import locate_run
from recsys_kit.serving.recommender import LoadedRun


def load_run(
    run: str | Path, results: str | Path | None = None, *, device: str = "auto",
    plugins: Plugins | None = None, console: Console | None = None,
) -> LoadedRun:
    """Load a completed run so that it recommends.

    ``run`` is a run id in ``results`` (default ``runs/results.duckdb``), ``latest`` (the
    newest completed run that is not a baseline), or a run's artifacts folder
    (``runs/artifacts/<run_id>``). The model is rebuilt from the run's effective recipe and
    saved data, and its best weights loaded; popularity and mean-rating runs are refitted from
    the same data. ``device`` is ``auto`` (CUDA when there is one), ``cpu``, ``cuda``, ...

    Example::

        run = recsys_kit.load_run("latest", results="runs/results.duckdb")
        run.recommend(user="42", k=10)
    """
    started = time.perf_counter()
    files = locate_run(run, results)
    plugins = plugins or make_plugins()
    plugins.check_clashes()
    loaded = validate_mapping(files.recipe, plugins.registry, source=files.source)
    torch_device = resolve_device(device)
    data = read_bundle(files.folder)
    ctx = RunContext(files.run_id, loaded, torch_device, files.out_dir, plugins,
                     console or Console(stderr=True, quiet=True))
    model, max_len = build_model(ctx, data)
    if not isinstance(model, DirectRecommender):
        _load_best(model, files.folder / checkpoints.BEST, files.run_id, torch_device)
    model.eval()
    return LoadedRun(files, loaded, data, model, max_len, torch_device,
                     load_seconds=time.perf_counter() - started)


def _load_best(model: object, path: Path, run_id: str, device: object) -> None:
    if not path.exists():
        raise RecsysKitError(f"Run {run_id} has no best weights ({path}): they were removed, "
                             "or the run stopped before its first epoch ended.")
    try:
        checkpoints.load_weights(model, path, device)  # type: ignore[arg-type]
    except (RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise RecsysKitError(
            f"The weights in {path} do not fit the model that run {run_id}'s recipe builds "
            f"({first}). The plugin or recsys-kit version changed since the run, or the file "
            "is damaged; serve it with the versions it was trained with (runs.versions).") from exc
