"""`recsys-kit sweep`: plan or reload a sweep, run it, print its trials and the best one."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recsys_kit.errors import RecsysKitError
from recsys_kit.plugins import Plugins
from recsys_kit.store import ResultStore
from recsys_kit.sweeps.driver import SweepRunner
from recsys_kit.sweeps.plan import SweepSpec, load_sweep, plan_sweep
from recsys_kit.sweeps.slots import make_slots
from recsys_kit.sweeps.trials import Trial, best, test_metrics


def new_sweep_id(name: str) -> str:
    """A sortable, unique sweep id (like run ids, with a ``sweep-`` prefix)."""
    from recsys_kit.runner.pipeline import new_run_id

    return f"sweep-{new_run_id(name)}"


def sweep(plugins: Plugins, out: Console, err: Console, *, recipe: Path | None,
          overrides: list[str], grid: list[str], optuna: int | None, params: list[str],
          metric: str | None, parallel: int, resume: str | None, results: Path) -> list[Trial]:
    """Run a new sweep of ``recipe`` or resume sweep ``resume``; print the outcome."""
    if (recipe is None) == (resume is None):
        raise RecsysKitError("Give a recipe to sweep (`recsys-kit sweep RECIPE.yaml --grid "
                             "...`) or a sweep to continue (`recsys-kit sweep --resume "
                             "SWEEP_ID`), not both.")
    if parallel < 1:
        raise RecsysKitError("--parallel needs 1 or more processes.")
    if resume is not None:
        if grid or optuna is not None or params or metric or overrides:
            raise RecsysKitError("A resumed sweep continues with the settings it started with: "
                                 "--grid, --optuna, --param, --metric and --set cannot change "
                                 "it (--parallel can). Start a new sweep to change them.")
        spec = load_sweep(resume, results)
    else:
        assert recipe is not None
        spec = plan_sweep(recipe, overrides, grid, optuna, params, metric, plugins.registry,
                          new_sweep_id(recipe.stem))
    slots, note = make_slots(parallel, spec.device)
    if note:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    out.print(f"[bold]sweep[/] {spec.sweep_id}: {spec.n_trials} {spec.method} trials of "
              f"'{escape(spec.name)}', {len(slots)} at a time, compared on validation "
              f"{spec.metric} ({spec.direction})", highlight=False)
    try:
        trials = SweepRunner(spec, slots, out).run()
    except KeyboardInterrupt:
        err.print(f"sweep {spec.sweep_id} interrupted; continue it with `recsys-kit sweep "
                  f"--resume {spec.sweep_id} --results {spec.results}`", highlight=False)
        raise
    report(spec, trials, out)
    if not any(t.status == "completed" for t in trials):
        raise RecsysKitError(f"No trial of sweep {spec.sweep_id} completed; their logs are in "
                             f"{spec.logs}.")
    return trials


def report(spec: SweepSpec, trials: list[Trial], out: Console) -> None:
    """The trials, best first, and the best one's settings and test metrics."""
    reverse = spec.direction == "maximize"
    ordered = sorted(trials, key=lambda t: (t.value is None,
                                            -(t.value or 0) if reverse else (t.value or 0)))
    keys = sorted({k for t in trials for k in t.params})
    table = Table(title=f"sweep {spec.sweep_id}", title_justify="left")
    for column in ("trial", *keys, "status", f"valid {spec.metric}", f"test {spec.metric}",
                   "run"):
        table.add_column(escape(column))
    for t in ordered:
        table.add_row(str(t.number), *(escape(str(t.params.get(k, ""))) for k in keys),
                      escape(t.status or ""), "" if t.value is None else f"{t.value:.4f}",
                      "" if t.test_value is None else f"{t.test_value:.4f}",
                      escape(t.run_id or ""))
    out.print(table)
    top = best(trials, spec.direction)
    if top is None or top.run_id is None:
        return
    test = test_metrics(ResultStore(spec.results), top.run_id)
    out.print(f"[bold green]best[/] trial {top.number} (run {top.run_id}): "
              f"{escape(', '.join(f'{k}={v}' for k, v in top.params.items()))}", highlight=False)
    out.print(f"  valid {spec.metric} = {top.value:.4f}; test: " +
              ", ".join(f"{k} = {v:.4f}" for k, v in test.items()), highlight=False)
