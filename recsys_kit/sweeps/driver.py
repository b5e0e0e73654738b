"""Running a sweep: trials in worker processes, as many at once as there are slots; trials
that ended are kept, interrupted or lost ones resume, the rest start; a stop request stops
every trial cleanly and leaves the sweep ``interrupted``, to resume later."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from recsys_kit.store import ResultStore
from recsys_kit.sweeps.optuna_search import OptunaSearch
from recsys_kit.sweeps.plan import SweepSpec, record_sweep
from recsys_kit.sweeps.slots import Slot
from recsys_kit.sweeps.space import trial_recipe
from recsys_kit.sweeps.trials import Trial, best, recorded_trials

#: How often the driver looks at its trial processes, in seconds.
POLL_S = 0.2


@dataclass
class _Running:
    """A trial process and what it was started with."""

    trial: Trial
    slot: Slot
    process: subprocess.Popen
    log: IO[bytes]
    started: float


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "(no params)"


class SweepRunner:
    """Runs the trials of one sweep over ``slots``, reporting on ``console``."""

    def __init__(self, spec: SweepSpec, slots: list[Slot], console: Console) -> None:
        self.spec, self.slots, self.console = spec, slots, console
        self.store = ResultStore(spec.results, on_delay=lambda m: console.print(
            f"[yellow]warning:[/] {escape(m)}", highlight=False))
        self.search: OptunaSearch | None = None
        self.pending: list[Trial] = []
        self.finished: dict[int, Trial] = {}
        self.next_number = 0

    # -- which trials run ---------------------------------------------------------------------

    def _plan(self) -> None:
        """Sort the recorded trials into finished and to-resume; queue the rest."""
        recorded = recorded_trials(self.store, self.spec.sweep_id, self.spec.metric)
        for number, trial in recorded.items():
            if trial.done:
                self.finished[number] = trial
            elif trial.status == "running":
                self.console.print(f"[yellow]warning:[/] trial {number} (run {trial.run_id}) is "
                                   "still running in another process; it is left to it.",
                                   highlight=False)
                self.finished[number] = trial
            else:
                self.pending.append(trial)  # interrupted or lost: resume
        if self.spec.method == "grid":
            for number, params in enumerate(self.spec.grid_params()):
                if number not in recorded:
                    self.pending.append(Trial(number, params))
            self.pending.sort(key=lambda t: t.number)
        else:
            self.search = OptunaSearch(self.spec.params, self.spec.direction, self.spec.seed,
                                       recorded.values())
            self.next_number = max(recorded, default=-1) + 1

    def _next_trial(self) -> Trial | None:
        if self.pending:
            return self.pending.pop(0)
        if self.search is not None and self.next_number < self.spec.n_trials:
            number = self.next_number
            self.next_number += 1
            return Trial(number, self.search.ask(number))
        return None

    # -- processes ----------------------------------------------------------------------------

    def _launch(self, trial: Trial, slot: Slot) -> _Running:
        spec: dict[str, Any] = {"results": str(self.spec.results), "sweep_id": self.spec.sweep_id,
                                "trial": trial.number, "params": trial.params,
                                "threads": slot.threads}
        if trial.run_id is not None:
            spec["resume"] = trial.run_id
            verb = f"resuming run {trial.run_id}"
        else:
            recipe = trial_recipe(self.spec.recipe, trial.params)
            if slot.device is not None:
                recipe["device"] = slot.device
            spec.update(recipe=recipe, source=self.spec.source)
            verb = "started"
        self.spec.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.spec.logs / f"trial-{trial.number}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "recsys_kit.sweeps.worker", json.dumps(spec)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **slot.env})
        self.console.print(f"trial {trial.number} {verb} ({slot.describe()}): "
                           f"{escape(_params_text(trial.params))}  [dim]log: "
                           f"{escape(str(log_path))}[/]", highlight=False)
        return _Running(trial, slot, process, log, time.perf_counter())

    def _collect(self, done: _Running) -> Trial:
        """The finished trial as the results file records it."""
        done.log.close()
        recorded = recorded_trials(self.store, self.spec.sweep_id, self.spec.metric)
        trial = recorded.get(done.trial.number)
        seconds = time.perf_counter() - done.started
        if trial is None:  # the worker ended before its run had a row
            trial = Trial(done.trial.number, done.trial.params, status="did not start")
        value = "" if trial.value is None else f": valid {self.spec.metric} = {trial.value:.4f}"
        colour = "green" if trial.status == "completed" else "red"
        self.console.print(f"trial {trial.number} [{colour}]{trial.status}[/] in "
                           f"{seconds:.1f} s{value}", highlight=False)
        if trial.status not in ("completed", "interrupted"):
            self.console.print(f"  see {escape(str(self.spec.logs))}/trial-{trial.number}.log",
                               highlight=False)
        return trial

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> list[Trial]:
        """Run every trial not finished yet; return all trials, by number.

        A stop request (Ctrl-C, SIGTERM) is passed on to the running trials, which stop
        cleanly; the sweep is then ``interrupted`` and the request raised again.
        """
        self.store.migrate()
        record_sweep(self.store, self.spec)
        self._plan()
        running: list[_Running] = []
        free = list(self.slots)
        try:
            while True:
                while free:
                    trial = self._next_trial()
                    if trial is None:
                        break
                    running.append(self._launch(trial, free.pop(0)))
                if not running:
                    break
                time.sleep(POLL_S)
                for item in [r for r in running if r.process.poll() is not None]:
                    running.remove(item)
                    free.append(item.slot)
                    trial = self._collect(item)
                    self.finished[trial.number] = trial
                    if self.search is not None:
                        self.search.tell(trial)
        except KeyboardInterrupt:
            self._stop(running)
            self._end("interrupted")
            raise
        self._end("completed")
        return [self.finished[n] for n in sorted(self.finished)]

    def _stop(self, running: list[_Running]) -> None:
        """Ask every running trial to stop, and wait until each has recorded it."""
        for item in running:
            if item.process.poll() is None:
                item.process.send_signal(signal.SIGTERM)
        for item in running:
            item.process.wait()
            self.finished[item.trial.number] = self._collect(item)

    def _end(self, status: str) -> None:
        top = best(list(self.finished.values()), self.spec.direction)
        self.store.finish_sweep(self.spec.sweep_id, status, top.run_id if top else None)
