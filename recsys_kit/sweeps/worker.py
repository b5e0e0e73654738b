"""One trial of a sweep, in its own process: ``python -m recsys_kit.sweeps.worker SPEC``.

``SPEC`` is a JSON object: ``results`` (the results file), ``sweep_id``, ``trial``,
``params`` (what the trial sets), ``threads``, and either ``recipe`` (a mapping, for a new
run) or ``resume`` (the run id of an interrupted or lost trial to continue). The run is an
ordinary run; a ``before_run`` hook tags its row with the sweep, trial and params. Exit
status: 0 completed, 1 failed, 2 invalid, 128 + signal when stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from recsys_kit.hookspecs import hookimpl
from recsys_kit.store import ResultStore


class TrialTag:
    """A plugin that marks the run it sees start as a trial of the sweep."""

    def __init__(self, results: Path, sweep_id: str, trial: int, params: dict[str, Any]
                 ) -> None:
        self.store = ResultStore(results)
        self.sweep_id, self.trial, self.params = sweep_id, trial, params

    @hookimpl
    def before_run(self, run: Any) -> None:
        """Tag the run's row (its row exists once ``before_run`` is called)."""
        self.store.tag_trial(run.run_id, self.sweep_id, self.trial, self.params)


def run_trial(spec: dict[str, Any]) -> int:
    """Run (or resume) the trial ``spec`` describes; return the exit status."""
    import torch
    from rich.console import Console

    from recsys_kit.errors import RecsysKitError
    from recsys_kit.interrupts import handling_stops
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.pipeline import Runner

    torch.set_num_threads(int(spec["threads"]))
    results = Path(spec["results"])
    console = Console(stderr=True, width=120)
    plugins = make_plugins(extra=[TrialTag(results, spec["sweep_id"], spec["trial"],
                                           spec["params"])])
    try:
        plugins.check_clashes()
        with handling_stops():
            runner = Runner(plugins, console)
            if spec.get("resume"):
                outcomes = runner.resume(spec["resume"], results)
            else:
                loaded = validate_mapping(spec["recipe"], plugins.registry,
                                          source=spec.get("source", "<sweep>"))
                outcomes = runner.run(loaded)
    except RecsysKitError as exc:
        console.print(f"error: {exc}", highlight=False, markup=False)
        return exc.exit_code
    outcome = outcomes[0]
    if outcome.status == "interrupted":
        return 128 + 15 if getattr(outcome.error, "signal_name", "") == "SIGTERM" else 130
    if outcome.error is not None:
        console.print(f"error: {outcome.error}", highlight=False, markup=False)
    return 0 if outcome.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(run_trial(json.loads(sys.argv[1])))
