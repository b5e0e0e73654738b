"""What a sweep is: its recipe, search space, trial count and metric, checked before any trial
runs, and stored in (and read back from) the ``sweeps`` table."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_kit.errors import RecipeError, RecipeIssue, RecsysKitError
from recsys_kit.recipe.loader import LoadedRecipe, validate_mapping
from recsys_kit.recipe.yaml_lines import apply_override, read_yaml
from recsys_kit.stages import StageRegistry
from recsys_kit.store import ResultStore
from recsys_kit.store.results import RESULTS_FILE
from recsys_kit.sweeps.space import (
    Param,
    checked_combinations,
    direction,
    grid_trials,
    parse_grid,
    parse_param,
    trial_recipe,
)


@dataclass
class SweepSpec:
    """A sweep: ``method`` ``grid`` (``grid`` holds each key's values) or ``optuna``
    (``params`` holds the ranges); ``recipe`` is the base recipe (file + ``--set``, no
    baselines) that each trial's params are set on."""

    sweep_id: str
    name: str
    method: str
    n_trials: int
    metric: str
    direction: str
    recipe: dict[str, Any]
    source: str
    results: Path
    seed: int
    device: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)

    @property
    def space(self) -> dict[str, Any]:
        """The search space as the ``sweeps`` table stores it."""
        if self.method == "grid":
            return {"grid": self.grid}
        return {"params": [p.as_json() for p in self.params]}

    def grid_params(self) -> list[dict[str, Any]]:
        """Every grid trial's params, by trial number."""
        return grid_trials(self.grid)

    @property
    def logs(self) -> Path:
        """Where each trial's output goes (``trial-N.log``)."""
        return self.results.parent / "sweeps" / self.sweep_id


def _metrics_reported(loaded: LoadedRecipe) -> list[str]:
    names: list[str] = []
    for stage in loaded.stage_list("evaluate"):
        names += getattr(stage.config, "metric_names", list)()
    return names


def _check_trial(base: dict[str, Any], params: dict[str, Any], registry: StageRegistry,
                 source: str, flag: str) -> None:
    try:
        validate_mapping(trial_recipe(base, params), registry, source=source)
    except RecipeError as exc:
        setting = ", ".join(f"{k}={v!r}" for k, v in params.items())
        issues = [RecipeIssue(i.path, f"{i.message} (with the {flag} setting {setting})",
                              i.file, i.line) for i in exc.issues]
        raise RecipeError(issues) from None


def plan_sweep(recipe_path: Path, overrides: list[str], grid: list[str], optuna: int | None,
               params: list[str], metric: str | None, registry: StageRegistry,
               sweep_id: str) -> SweepSpec:
    """Check the recipe, the space and the metric; return the sweep to run (nothing is
    written yet). Every grid trial's recipe is validated; for Optuna, the ends of each range."""
    if bool(grid) == (optuna is not None):
        raise RecsysKitError("Give the search space with --grid key=v1,v2 (repeatable) or "
                             "--optuna N with --param key=float:LOW:HIGH (repeatable), not both.")
    if optuna is not None and not params:
        raise RecsysKitError("--optuna N needs at least one --param, e.g. --param "
                             "train.lr=float:1e-4:1e-2:log.")
    if params and optuna is None:
        raise RecsysKitError("--param goes with --optuna N (how many trials to run).")
    if optuna is not None and optuna < 1:
        raise RecsysKitError("--optuna N needs N of 1 or more trials.")
    data, lines = read_yaml(recipe_path)
    overridden = {apply_override(data, item) for item in overrides}
    data["baselines"] = []  # a sweep compares its trials; baselines would repeat per trial
    base = validate_mapping(copy.deepcopy(data), registry, source=str(recipe_path), lines=lines,
                            overridden=overridden)
    if base.recipe.data.split.plugin == "rolling":
        raise RecsysKitError(
            f"{recipe_path} uses the rolling split, whose rounds are already runs grouped as "
            "one evaluation; a sweep cannot group them again. Sweep the recipe with another "
            "split (e.g. temporal), then run the rolling evaluation with the settings found.")
    metric = metric or base.recipe.train.monitor
    reported = _metrics_reported(base)
    if metric not in reported:
        raise RecsysKitError(f"--metric {metric} is not a metric the recipe's evaluators report "
                             f"({', '.join(reported)}). Pick one of those.")
    spec = SweepSpec(sweep_id=sweep_id, name=base.recipe.name, method="grid", n_trials=0,
                     metric=metric, direction=direction(metric), recipe=data,
                     source=str(recipe_path), seed=base.recipe.seed, device=base.recipe.device,
                     results=Path(base.recipe.output.dir) / RESULTS_FILE)
    if grid:
        spec.grid = parse_grid(grid)
        combos = spec.grid_params()
        for combo in combos:
            _check_trial(data, combo, registry, str(recipe_path), "--grid")
        spec.n_trials = len(combos)
    else:
        spec.method = "optuna"
        spec.params = [parse_param(p) for p in params]
        keys = [p.key for p in spec.params]
        if len(set(keys)) != len(keys):
            raise RecsysKitError("A --param key is given twice; give each key once.")
        for combo in checked_combinations(spec.params):
            _check_trial(data, combo, registry, str(recipe_path), "--param")
        spec.n_trials = int(optuna or 0)
    return spec


def record_sweep(store: ResultStore, spec: SweepSpec) -> None:
    """Write (or reopen) the sweep's row."""
    store.start_sweep(spec.sweep_id, name=spec.name, method=spec.method, space=spec.space,
                      n_trials=spec.n_trials, metric=spec.metric, direction=spec.direction,
                      recipe=spec.recipe, source=spec.source)


def load_sweep(sweep_id: str, results: Path) -> SweepSpec:
    """The sweep ``sweep_id`` of the results file, to resume it."""
    store = ResultStore(results)
    if not store.path.is_file():
        raise RecsysKitError(f"No results file at {results}: pass the file that holds sweep "
                             f"{sweep_id} with --results.")
    store.migrate()
    _, rows = store.query("SELECT name, method, space, n_trials, metric, direction, recipe, "
                          "recipe_source, status FROM sweeps WHERE sweep_id = ?", [sweep_id])
    if not rows:
        raise RecsysKitError(f"There is no sweep '{sweep_id}' in {results}. List them with "
                             "`recsys-kit sql \"SELECT sweep_id, name, status FROM sweeps\"`.")
    name, method, space, n_trials, metric, how, recipe, source, _ = rows[0]
    space, recipe = json.loads(space), json.loads(recipe)
    recipe.setdefault("output", {})["dir"] = str(store.path.parent)
    spec = SweepSpec(sweep_id=sweep_id, name=name, method=method, n_trials=n_trials,
                     metric=metric, direction=how, recipe=recipe, source=source or "<sweep>",
                     results=store.path, seed=int(recipe.get("seed", 42)),
                     device=str(recipe.get("device", "auto")))
    if method == "grid":
        spec.grid = space["grid"]
    else:
        spec.params = [Param.from_json(p) for p in space["params"]]
    return spec
