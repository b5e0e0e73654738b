"""Rolling evaluation: a recipe whose split is ``rolling`` runs one run per round.

Round ``r`` trains on the data before its time window and tests on the window (the split
stage draws the lines); the next round adds the window and starts from round ``r``'s best
weights (``train.init_from``), so the per-round test metrics show how quality evolves as
new behaviour arrives. The rounds are grouped as a sweep of method ``rolling``: one
``sweeps`` row, and on each round's run ``sweep_id``, ``trial`` (the round) and
``trial_params`` (``{"data.split.params.round": r}``); the TUI's sweep screen plots a metric
per round.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys_kit.recipe.loader import LoadedRecipe, validate_mapping
from recsys_kit.runner.distributed import NotWriting
from recsys_kit.store import ResultStore

if TYPE_CHECKING:
    from recsys_kit.builtin.split import RollingConfig
    from recsys_kit.runner.pipeline import Runner, RunOutcome

#: The recipe key a round sets, as ``trial_params`` records it.
ROUND_KEY = "data.split.params.round"
METHOD = "rolling"


@dataclass(frozen=True)
class RoundTag:
    """Marks a run as round ``round`` of the rolling evaluation ``sweep_id``."""

    sweep_id: str
    round: int

    @property
    def params(self) -> dict[str, int]:
        """The ``trial_params`` of the round's run."""
        return {ROUND_KEY: self.round}


def rolling_config(loaded: LoadedRecipe) -> RollingConfig | None:
    """The rolling split's settings, or None when the recipe's split is another one."""
    if loaded.recipe.data.split.plugin != METHOD:
        return None
    return loaded.stage("data.split").config  # type: ignore[return-value]


def round_recipe(loaded: LoadedRecipe, round_: int, previous_run: str | None,
                 registry: Any) -> LoadedRecipe:
    """The recipe of one round: the split's round set, and (warm start on) the previous
    round's run as ``train.init_from``."""
    config = rolling_config(loaded)
    assert config is not None
    data = copy.deepcopy(loaded.effective)
    data["data"]["split"].setdefault("params", {})["round"] = round_
    base = data["name"].rsplit(":round-", 1)[0]
    data["name"] = f"{base}:round-{round_}"
    train = data.setdefault("train", {})
    if round_ > 1 and not config.warm_start:
        train.pop("init_from", None)
    elif previous_run is not None:
        train["init_from"] = previous_run
        if round_ > 1 and config.warm_epochs is not None:
            train["epochs"] = config.warm_epochs
        if round_ > 1 and config.warm_lr is not None:
            train["lr"] = config.warm_lr
    return validate_mapping(data, registry, source=loaded.source)


class RollingRounds:
    """Runs the rounds of a rolling recipe through ``runner``, one after another."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def start(self, loaded: LoadedRecipe) -> list[RunOutcome]:
        """A new rolling evaluation: its sweep row, then every round from the recipe's."""
        from recsys_kit.sweeps.command import new_sweep_id
        from recsys_kit.sweeps.space import direction

        config = rolling_config(loaded)
        assert config is not None
        recipe = loaded.recipe
        sweep_id = self.runner.ranks.broadcast(new_sweep_id(recipe.name))
        self._store(loaded).start_sweep(
            sweep_id, name=recipe.name, method=METHOD,
            space={"rounds": config.rounds, "window_fraction": config.window_fraction,
                   "valid_fraction": config.valid_fraction, "warm_start": config.warm_start},
            n_trials=config.rounds, metric=recipe.train.monitor,
            direction=direction(recipe.train.monitor), recipe=loaded.effective,
            source=loaded.source)
        self.runner.console.print(
            f"[bold]rolling[/] {sweep_id}: rounds {config.round} to {config.rounds}",
            highlight=False)
        return self.rounds(loaded, sweep_id, config.round, recipe.train.init_from)

    def rounds(self, loaded: LoadedRecipe, sweep_id: str, first: int,
               previous_run: str | None, outcomes: list[RunOutcome] | None = None
               ) -> list[RunOutcome]:
        """Run rounds ``first`` to the last, each starting from ``previous_run``'s weights;
        stop at a round that does not complete. ``outcomes`` are earlier rounds' (resumed)."""
        config = rolling_config(loaded)
        assert config is not None
        outcomes = list(outcomes or [])
        status = outcomes[0].status if outcomes else "completed"
        latest = outcomes[0].run_id if status == "completed" and outcomes else None
        for round_ in range(first, config.rounds + 1) if status == "completed" else ():
            self.runner.console.rule(f"round {round_} of {config.rounds}")
            derived = round_recipe(loaded, round_, latest or previous_run,
                                   self.runner.plugins.registry)
            results = self.runner.run_with_baselines(derived, tag=RoundTag(sweep_id, round_))
            outcomes += results
            status = results[0].status
            if status != "completed":
                break
            latest = results[0].run_id
        # The sweep's "best" run of a rolling evaluation is its newest model.
        self._store(loaded).finish_sweep(sweep_id, status, latest)
        return outcomes

    def _store(self, loaded: LoadedRecipe) -> ResultStore:
        if not self.runner.ranks.is_main:
            return NotWriting()  # type: ignore[return-value]
        store = ResultStore.in_dir(Path(loaded.recipe.output.dir))
        store.migrate()
        return store
