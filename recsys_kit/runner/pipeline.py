"""Run a recipe: data stages, model assembly, training, evaluation, results."""

from __future__ import annotations

import copy
import platform
import secrets
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from rich.console import Console

from recsys_kit.columns import SPLIT_NAMES, TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.plugins import Plugins
from recsys_kit.privacy.files import owner_only
from recsys_kit.recipe.loader import LoadedRecipe, validate_mapping
from recsys_kit.runner.context import RunContext, resolve_device, seed_everything
from recsys_kit.runner.data_stages import PreparedData, prepare_data
from recsys_kit.runner.modelling import fit_and_evaluate
from recsys_kit.store import ResultStore


@dataclass
class RunOutcome:
    """What a finished run reports back to the CLI."""

    run_id: str
    name: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    data_seconds: float = 0.0
    error: BaseException | None = None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("recsys-kit", "torch", "transformers", "duckdb", "pydantic", "pluggy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = ""
    return out


def new_run_id(name: str) -> str:
    """A sortable, unique run id: time, name, random suffix."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


def _plugin_rows(loaded: LoadedRecipe) -> list[dict]:
    return [
        {"recipe_path": path, "family": st.spec.family.value, "plugin": st.spec.name,
         "distribution": st.spec.distribution, "version": st.spec.version,
         "params": st.config.model_dump(mode="json")}
        for path, st in loaded.stages.items()
        if not path.startswith("baselines.")
    ]


class Runner:
    """Executes recipes with one plugin set, console and results store."""

    def __init__(self, plugins: Plugins, console: Console | None = None) -> None:
        self.plugins = plugins
        self.console = console or Console(stderr=True)

    def run(self, loaded: LoadedRecipe) -> list[RunOutcome]:
        """Run the recipe and then each of its baselines on the same data."""
        privacy = loaded.recipe.privacy
        with owner_only(Path(loaded.recipe.output.dir), enabled=privacy.owner_only):
            return self._run_with_baselines(loaded)

    def _run_with_baselines(self, loaded: LoadedRecipe) -> list[RunOutcome]:
        main = self._run_one(loaded, prepared=None, parent=None)
        outcomes = [main]
        if main.status != "completed" or main.prepared is None:
            return outcomes
        for i, stage in enumerate(loaded.stage_list("baselines")):
            derived = self._baseline_recipe(loaded, i)
            self.console.rule(f"baseline: {stage.spec.name}")
            outcomes.append(self._run_one(derived, prepared=main.prepared, parent=main.run_id))
            if outcomes[-1].status == "interrupted":
                break
        return outcomes

    def _baseline_recipe(self, loaded: LoadedRecipe, index: int) -> LoadedRecipe:
        data = copy.deepcopy(loaded.effective)
        ref = data["baselines"][index]
        data["model"]["encoders"]["user"] = ref
        data["baselines"] = []
        data["name"] = f"{data['name']}:{ref['plugin']}"
        return validate_mapping(data, self.plugins.registry, source=loaded.source)

    def _run_one(
        self, loaded: LoadedRecipe, prepared: PreparedData | None, parent: str | None
    ) -> _Outcome:
        recipe = loaded.recipe
        out_dir = Path(recipe.output.dir)
        store = ResultStore.in_dir(out_dir)
        store.migrate()
        device = resolve_device(recipe.device)
        seed_everything(recipe.seed)
        run_id = new_run_id(recipe.name)
        ctx = RunContext(run_id, loaded, device, out_dir, self.plugins, self.console)
        store.start_run(
            run_id=run_id, name=recipe.name, recipe=loaded.effective, source=loaded.source,
            versions=_versions(), device=str(device), seed=recipe.seed,
            monitor=recipe.train.monitor, plugins=_plugin_rows(loaded), parent_run_id=parent,
        )
        hook = self.plugins.hook
        outcome = _Outcome(run_id=run_id, name=recipe.name, status="running")
        started = time.perf_counter()
        self.console.print(f"[bold]run[/] {run_id} on {device}")
        try:
            hook.before_run(run=ctx)
            if prepared is None:
                t0 = time.perf_counter()
                prepared = prepare_data(loaded, ctx.cache_dir, self.console,
                                        self._stage_hook(ctx))
                outcome.data_seconds = time.perf_counter() - t0
                self._store_dataset(store, prepared)
            outcome.prepared = prepared
            store.set_data_key(run_id, prepared.key)
            if prepared.skipped_rows is not None:
                store.add_artifact(run_id, "skipped_rows", "csv", prepared.skipped_rows)
            result = fit_and_evaluate(ctx, prepared.data, store, self._stage_hook(ctx))
            outcome.metrics = result.test_metrics
            outcome.status = "completed"
            store.finish_run(run_id, "completed", best_epoch=result.best_epoch)
            self._call_hook(hook.after_run, run=ctx, status="completed",
                            metrics=result.test_metrics)
        except KeyboardInterrupt as exc:
            outcome.status, outcome.error = "interrupted", exc
            store.finish_run(run_id, "interrupted", error="interrupted by the user (Ctrl-C)")
            self._call_hook(hook.after_run, run=ctx, status="interrupted", metrics={})
        except Exception as exc:
            outcome.status, outcome.error = "failed", exc
            text = str(exc) if isinstance(exc, RecsysKitError) else "".join(
                traceback.format_exception(exc))
            store.finish_run(run_id, "failed", error=text)
            self._call_hook(hook.on_error, run=ctx, error=exc)
        except BaseException as exc:  # SystemExit, e.g. SIGTERM: the row must not stay running
            store.finish_run(run_id, "failed", error=f"stopped: {type(exc).__name__} {exc}")
            raise
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _call_hook(self, hook_caller, **kwargs) -> None:
        """Call a reporting hook; a logger plugin's bug must not change the run's outcome."""
        try:
            hook_caller(**kwargs)
        except Exception as exc:
            self.console.print(f"[yellow]warning:[/] a {hook_caller.name} hook raised {exc!r}")

    def _stage_hook(self, ctx: RunContext):
        def before(family: str, name: str):
            ctx.plugins.hook.before_stage(run=ctx, family=family, name=name)
            t0 = time.perf_counter()

            def after() -> None:
                ctx.plugins.hook.after_stage(run=ctx, family=family, name=name,
                                             seconds=time.perf_counter() - t0)
            return after
        return before

    def _store_dataset(self, store: ResultStore, prepared: PreparedData) -> None:
        data = prepared.data
        lens = np.diff(data.offsets)
        users = np.repeat(data.user_ids, lens)
        positions = np.arange(len(data.items)) - np.repeat(data.offsets[:-1], lens)
        names = np.array([SPLIT_NAMES[i] for i in (TRAIN, VALID, TEST)], dtype=object)
        titles = _titles(data)
        store.write_dataset(
            prepared.key, users, positions, data.item_ids[data.items - 1], names[data.split],
            {"item_id": data.item_ids, "title": titles},
        )


def _titles(data: SequenceData) -> np.ndarray:
    for column in ("title", "text", "name"):
        if column in data.item_side:
            return data.item_side[column]
    if data.item_side:
        return next(iter(data.item_side.values()))
    return np.full(data.n_items, "", dtype=object)


@dataclass
class _Outcome(RunOutcome):
    prepared: PreparedData | None = None

