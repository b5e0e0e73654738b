"""Run a recipe: data stages, model assembly, training, evaluation, results.

Every run row ends in a terminal state: ``completed``; ``failed`` (an error, also a loss or
score that is not finite); ``interrupted`` (Ctrl-C or SIGTERM, at any moment and however
often; the checkpoints are recorded and the run can be resumed); or, when its process
vanished, ``lost`` (set by the next writer that opens the file).
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import secrets
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from recsys_kit.columns import SPLIT_NAMES, TEST, TRAIN, VALID
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.interrupts import StopRequested, ignore_further_stops, shielded, stop_requested
from recsys_kit.nn.training import checkpoints
from recsys_kit.plugins import Plugins
from recsys_kit.privacy.files import owner_only
from recsys_kit.recipe.loader import LoadedRecipe, validate_mapping
from recsys_kit.runner.context import RunContext, resolve_device, seed_everything
from recsys_kit.runner.data_stages import PreparedData, prepare_data
from recsys_kit.runner.distributed import (
    NotWriting,
    RankVanished,
    lost_peer,
    note_stop,
    ranks_from_env,
    start,
    stops_noted,
)
from recsys_kit.runner.heartbeat import Heartbeat
from recsys_kit.runner.modelling import ModelResult, fit_and_evaluate
from recsys_kit.runner.rolling import RollingRounds, RoundTag, rolling_config
from recsys_kit.serving.bundle import save_bundle
from recsys_kit.store import RESULTS_FILE, ResultStore, resume_command
from recsys_kit.store.liveness import this_host

#: Statuses a run may be resumed from.
RESUMABLE = ("interrupted", "lost")


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


class ResumeRefused(RecsysKitError):
    """A stopped run cannot resume here: its data cannot be made again."""


@dataclass
class _Resumed:
    """The row of a run being resumed: its id, attempt number and dataset."""

    run_id: str
    attempt: int
    data_key: str | None


class Runner:
    """Executes recipes with one plugin set, console and results store."""

    def __init__(self, plugins: Plugins, console: Console | None = None) -> None:
        self.plugins = plugins
        self.console = console or Console(stderr=True)
        self.ranks = ranks_from_env()

    def run(self, loaded: LoadedRecipe) -> list[RunOutcome]:
        """Run the recipe and then each of its baselines on the same data."""
        privacy = loaded.recipe.privacy
        with owner_only(Path(loaded.recipe.output.dir), enabled=privacy.owner_only):
            if rolling_config(loaded) is not None:
                return RollingRounds(self).start(loaded)
            return self.run_with_baselines(loaded)

    def run_with_baselines(self, loaded: LoadedRecipe, tag: RoundTag | None = None
                           ) -> list[RunOutcome]:
        """Run the recipe's model (marked with ``tag`` when it is a round of a rolling
        evaluation), then each of its baselines on the same data."""
        main = self._run_one(loaded, prepared=None, parent=None, tag=tag)
        return [main, *self._baselines(loaded, main, done=set())]

    def resume(self, run_id: str, results: Path) -> list[RunOutcome]:
        """Continue an ``interrupted`` or ``lost`` run of ``results`` from its last checkpoint
        (then run the recipe's baselines it has not run yet, and, for a round of a rolling
        evaluation, the rounds after it)."""
        if self.ranks.launched:
            raise RecsysKitError(
                f"--resume runs in one process: resume run {run_id} without torchrun or "
                "--nproc (`recsys-kit run --resume RUN_ID`); its checkpoints load the same.")
        store = ResultStore(results)
        if not store.path.exists():
            raise RecsysKitError(f"No results file at {results}: pass the file that holds run "
                                 f"{run_id} with --results.")
        store.migrate()
        row = store.run_row(run_id)
        if row is None:
            raise RecsysKitError(
                f"There is no run '{run_id}' in {results}. List the runs with `recsys-kit sql "
                "\"SELECT run_id, name, status FROM runs ORDER BY started_at\"`.")
        if row["status"] not in RESUMABLE:
            why = {"completed": "it has completed", "running": "it is still running "
                   f"(pid {row['pid']} on {row['host']})", "failed": "it failed: fix the cause "
                   "and start a new run"}.get(row["status"], f"its status is {row['status']}")
            raise RecsysKitError(f"Run {run_id} cannot be resumed: {why}. Only interrupted or "
                                 "lost runs resume.")
        recipe = copy.deepcopy(row["recipe"])
        recipe["output"]["dir"] = str(store.path.parent)
        loaded = validate_mapping(recipe, self.plugins.registry, source=row["recipe_source"] or
                                  "<resumed run>")
        resumed = _Resumed(run_id, int(row["attempts"] or 1) + 1, row["data_key"])
        with owner_only(store.path.parent, enabled=loaded.recipe.privacy.owner_only):
            main = self._run_one(loaded, prepared=None, parent=row["parent_run_id"],
                                 resumed=resumed)
            if row["parent_run_id"] is not None:
                return [main]
            _, children = store.query("SELECT name FROM runs WHERE parent_run_id = ?", [run_id])
            outcomes = [main, *self._baselines(loaded, main,
                                               done={name for (name,) in children})]
            config = rolling_config(loaded)
            if config is None or row["sweep_id"] is None:
                return outcomes
            return RollingRounds(self).rounds(loaded, row["sweep_id"], config.round + 1,
                                              None, outcomes)

    def _baselines(self, loaded: LoadedRecipe, main: _Outcome, done: set[str]
                   ) -> list[RunOutcome]:
        outcomes: list[RunOutcome] = []
        if main.status != "completed" or main.prepared is None:
            return outcomes
        for i, stage in enumerate(loaded.stage_list("baselines")):
            derived = self._baseline_recipe(loaded, i)
            if derived.recipe.name in done:
                continue
            self.console.rule(f"baseline: {stage.spec.name}")
            outcomes.append(self._run_one(derived, prepared=main.prepared, parent=main.run_id))
            if outcomes[-1].status == "interrupted":
                break
        return outcomes

    def _baseline_recipe(self, loaded: LoadedRecipe, index: int) -> LoadedRecipe:
        data = copy.deepcopy(loaded.effective)
        ref = data["baselines"][index]
        if loaded.stage(f"baselines.{index}").spec.direct:  # it uses no other model stage
            data["model"] = {"encoders": {"user": ref}}
        else:
            data["model"]["encoders"]["user"] = ref
        data["baselines"] = []
        data["name"] = f"{data['name']}:{ref['plugin']}"
        data.get("train", {}).pop("init_from", None)  # the main model's weights, not its own
        return validate_mapping(data, self.plugins.registry, source=loaded.source)

    def _run_one(
        self, loaded: LoadedRecipe, prepared: PreparedData | None, parent: str | None,
        resumed: _Resumed | None = None, tag: RoundTag | None = None,
    ) -> _Outcome:
        recipe, main = loaded.recipe, self.ranks.is_main
        out_dir = Path(recipe.output.dir)
        # Only rank 0 opens the results file (DuckDB allows one writer).
        store = ResultStore.in_dir(out_dir, on_delay=self._warn) if main else NotWriting()
        store.migrate()
        device = start(self.ranks, resolve_device(recipe.device))
        seed_everything(recipe.seed, recipe.train.deterministic)
        run_id = resumed.run_id if resumed else self.ranks.broadcast(new_run_id(recipe.name))
        attempt = resumed.attempt if resumed else 1
        ctx = RunContext(run_id, loaded, device, out_dir, self.plugins, self.console, attempt,
                         self.ranks)
        outcome = _Outcome(run_id=run_id, name=recipe.name, status="running")
        started = time.perf_counter()
        verb = f"resuming (attempt {attempt})" if resumed else "run"
        ranks = (f" (rank 0 of {self.ranks.world_size} processes)"
                 if self.ranks.world_size > 1 else "")
        self.console.print(f"[bold]{verb}[/] {run_id} on {device}{ranks}")
        with Heartbeat(store, run_id) if main else contextlib.nullcontext():
            self._execute(ctx, store, outcome, prepared, resumed, parent, tag)
        outcome.seconds = time.perf_counter() - started
        if store.delayed:
            self._warn(f"{store.delayed} writes of run {run_id} wait in {store.journal.folder}; "
                       "they are merged the next time recsys-kit writes to the results file.")
        return outcome

    def _start(self, ctx: RunContext, store: ResultStore, resumed: _Resumed | None,
               parent: str | None, tag: RoundTag | None) -> None:
        recipe = ctx.loaded.recipe
        if resumed:
            store.restart_run(ctx.run_id, attempt=ctx.attempt, pid=os.getpid(),
                              host=this_host(), device=str(ctx.device),
                              processes=self.ranks.world_size)
            return
        store.start_run(
            run_id=ctx.run_id, name=recipe.name, recipe=ctx.loaded.effective,
            source=ctx.loaded.source, versions=_versions(), device=str(ctx.device),
            seed=recipe.seed, monitor=recipe.train.monitor, plugins=_plugin_rows(ctx.loaded),
            parent_run_id=parent, pid=os.getpid(), host=this_host(),
            processes=self.ranks.world_size,
        )
        if tag is not None:
            store.tag_trial(ctx.run_id, tag.sweep_id, tag.round, tag.params)

    def _execute(self, ctx: RunContext, store: ResultStore, outcome: _Outcome,
                 prepared: PreparedData | None, resumed: _Resumed | None,
                 parent: str | None, tag: RoundTag | None) -> None:
        """Row, data, model, results; the row is finished whatever happens (stops are held off
        while it is)."""
        hook, run_id = self.plugins.hook, ctx.run_id
        result = ModelResult()
        try:
            self._start(ctx, store, resumed, parent, tag)
            hook.before_run(run=ctx)
            if prepared is None:
                t0 = time.perf_counter()
                prepared = self._prepare(ctx)
                outcome.data_seconds = time.perf_counter() - t0
                if resumed and resumed.data_key and resumed.data_key != prepared.key:
                    if resumed.data_key not in prepared.earlier_keys:
                        raise ResumeRefused(
                            f"Run {run_id} cannot resume: the data it trained on can no longer "
                            f"be made (data key {prepared.key}, was {resumed.data_key}): an "
                            "input file, the feedback it takes (data.feedback) or an erasure "
                            "(`recsys-kit forget`) changed it. Resume it from the folder it was "
                            "started in once its input files are back, or start a new run; "
                            "the run stays resumable.")
                    ctx.console.print(
                        f"resuming with the data stages of this recsys-kit version (data key "
                        f"{prepared.key}; the run recorded {resumed.data_key} under an earlier "
                        "one): the same recipe and input files", highlight=False)
                self._store_dataset(store, prepared)
            outcome.prepared = prepared
            store.set_data_key(run_id, prepared.key)
            save_bundle(ctx, store, prepared.data)  # the run can be served once it ends
            if prepared.skipped_rows is not None:
                store.add_artifact(run_id, "skipped_rows", "csv", prepared.skipped_rows)
            fit_and_evaluate(ctx, prepared.data, store, self._stage_hook(ctx), result)
            outcome.metrics = result.test_metrics
            outcome.status = "completed"
        except KeyboardInterrupt as exc:
            outcome.status, outcome.error = "interrupted", exc
        except Exception as exc:
            # DuckDB turns a signal during a query into its own error: still a stop request.
            outcome.status = "interrupted" if stop_requested() else "failed"
            outcome.error = exc
        except BaseException as exc:  # SystemExit from a plugin: the row must not stay running
            outcome.status, outcome.error = "failed", exc
            with shielded():
                self._finish(ctx, store, outcome, result)
            raise
        with shielded():
            if outcome.status == "interrupted":
                ignore_further_stops()
            self._finish(ctx, store, outcome, result)

    def _prepare(self, ctx: RunContext) -> PreparedData:
        """The data stages; under torchrun rank 0 runs them (and fills the data cache) while
        the other ranks wait, then they read the cache (or, on a node that does not share
        the output folder, build the same data from the same seed)."""
        if not self.ranks.is_main:
            self.ranks.barrier()
        prepared = prepare_data(ctx.loaded, ctx.cache_dir, self.console, self._stage_hook(ctx))
        if self.ranks.is_main:
            self.ranks.barrier()
        return prepared

    def _finish(self, ctx: RunContext, store: ResultStore, outcome: _Outcome,
                result: ModelResult) -> None:
        if not self.ranks.is_main:
            if outcome.status == "failed" and outcome.error is not None:
                note_stop(ctx.artifacts_dir, self.ranks, "failed", _error_text(outcome.error))
            elif outcome.status == "interrupted":
                note_stop(ctx.artifacts_dir, self.ranks, "interrupted",
                          getattr(outcome.error, "signal_name", "SIGINT"))
            return
        noted = None
        if self.ranks.world_size > 1 and outcome.status != "completed":
            # Another rank's stop reaches rank 0 as a broken collective or torchrun's SIGTERM:
            # the note that rank left says what happened.
            noted = stops_noted(ctx.artifacts_dir, self.ranks)
            if noted and noted[0] == "failed":
                outcome.status, outcome.error = "failed", RecsysKitError(noted[1])
            elif noted and outcome.status == "failed":
                outcome.status, outcome.error = "interrupted", StopRequested(noted[1])
            elif noted is None and (lost_peer(outcome.error) or getattr(
                    outcome.error, "signal_name", None) == "SIGTERM"):
                outcome.status, outcome.error = "interrupted", RankVanished(outcome.error)
        hook, exc = self.plugins.hook, outcome.error
        if isinstance(exc, ResumeRefused):  # nothing ran: the run stays as it was, resumable
            store.finish_run(ctx.run_id, "interrupted", best_epoch=result.best_epoch,
                             error=str(exc), keep_best_epoch=True)
            self._call_hook(hook.on_error, run=ctx, error=exc)
        elif outcome.status == "completed":
            store.finish_run(ctx.run_id, "completed", best_epoch=result.best_epoch)
            # Only a stopped run resumes: a completed one keeps its best weights alone.
            (ctx.artifacts_dir / checkpoints.LAST).unlink(missing_ok=True)
            self._call_hook(hook.after_run, run=ctx, status="completed",
                            metrics=result.test_metrics)
        elif outcome.status == "interrupted":
            why = (exc.describe() if isinstance(exc, StopRequested) else
                   StopRequested(stop_requested() or "SIGINT").describe())
            store.finish_run(ctx.run_id, "interrupted", best_epoch=result.best_epoch,
                             error=f"{why}; resume it with "
                                   f"`{resume_command(ctx.run_id, ctx.out_dir / RESULTS_FILE)}`")
            self._call_hook(hook.after_run, run=ctx, status="interrupted", metrics={})
        else:
            assert exc is not None
            store.finish_run(ctx.run_id, "failed", best_epoch=result.best_epoch,
                             error=_error_text(exc))
            self._call_hook(hook.on_error, run=ctx, error=exc)

    def _warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    def _call_hook(self, hook_caller: Any, **kwargs: Any) -> None:
        """Call a reporting hook; a logger plugin's bug must not change the run's outcome."""
        try:
            hook_caller(**kwargs)
        except Exception as exc:
            self._warn(f"a {hook_caller.name} hook raised {exc!r}")

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


def _error_text(exc: BaseException) -> str:
    """A failed run's ``runs.error``: a user-facing error's message, else the traceback."""
    return str(exc) if isinstance(exc, RecsysKitError) else "".join(
        traceback.format_exception(exc))


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
