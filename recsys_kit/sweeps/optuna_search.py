"""Optuna as a sweep's search: a study that proposes trial params (``ask``) and learns from
each finished trial (``tell``), rebuilt from the results file when a sweep resumes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recsys_kit.errors import RecsysKitError
from recsys_kit.sweeps.space import Param
from recsys_kit.sweeps.trials import Trial


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise RecsysKitError("--optuna needs the optuna package: install the sweep extra "
                             "(pip install 'recsys-kit[sweep]'), or use --grid.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distributions(params: Iterable[Param]) -> dict[str, Any]:
    """Optuna's distribution of each ``--param``, keyed by its dotted path."""
    optuna = _optuna()
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "float":
            out[p.key] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif p.kind == "int":
            out[p.key] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.key] = optuna.distributions.CategoricalDistribution(list(p.choices))
    return out


class OptunaSearch:
    """Proposes params for new trials; ``seed`` makes the proposals repeatable."""

    def __init__(self, params: list[Param], direction: str, seed: int,
                 recorded: Iterable[Trial]) -> None:
        optuna = _optuna()
        self.optuna = optuna
        self.space = distributions(params)
        self.study = optuna.create_study(direction=direction,
                                         sampler=optuna.samplers.TPESampler(seed=seed))
        self.asked: dict[int, Any] = {}
        for trial in recorded:  # what earlier invocations of the sweep learnt
            if trial.done:
                self._add(trial)

    def _add(self, trial: Trial) -> None:
        state = self.optuna.trial.TrialState
        params = {k: v for k, v in trial.params.items() if k in self.space}
        if trial.value is None:
            frozen = self.optuna.trial.create_trial(params=params, distributions=self.space,
                                                    state=state.FAIL)
        else:
            frozen = self.optuna.trial.create_trial(params=params, distributions=self.space,
                                                    value=trial.value)
        self.study.add_trial(frozen)

    def ask(self, number: int) -> dict[str, Any]:
        """Params of new trial ``number``."""
        proposal = self.study.ask(self.space)
        self.asked[number] = proposal
        return dict(proposal.params)

    def tell(self, trial: Trial) -> None:
        """Learn from a trial that ended (completed with a value, or not)."""
        proposal = self.asked.pop(trial.number, None)
        if proposal is None:  # a resumed trial Optuna did not propose in this process
            self._add(trial)
        elif trial.value is None:
            self.study.tell(proposal, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(proposal, trial.value)
