"""What the sweep screen shows, worked out without Textual: the trials table's columns and
order, the metrics one can plot, and a metric against a parameter as plot data."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from recsys_kit.tui.formatting import fmt_value
from recsys_kit.tui.queries import SweepDetail, SweepTrial

#: The method of a rolling evaluation: its trials are rounds, plotted in order.
ROLLING = "rolling"
#: Values spanning this ratio or more (lr from 1e-4 to 1e-2) go on a log axis.
LOG_SPAN = 100.0


def fmt_param(value: Any) -> str:
    """A param value as a cell or tick: ``0.001``, ``64``, ``true``, strings as they are."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted param key by its last part (``train.lr`` -> ``lr``), or by its last two
    parts where the last one alone is shared."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: name if last.count(name) == 1 else ".".join(k.split(".")[-2:])
            for k, name in zip(keys, last, strict=True)}


@dataclass(frozen=True)
class Choice:
    """A metric to plot: ``split`` is ``valid`` (at each run's best epoch) or ``test``."""

    split: str
    metric: str

    @property
    def label(self) -> str:
        """``valid ndcg@10``."""
        return f"{self.split} {self.metric}"

    def value(self, trial: SweepTrial) -> float | None:
        """The trial's value of this metric (None when it has none)."""
        return (trial.valid if self.split == "valid" else trial.test).get(self.metric)


def metric_choices(detail: SweepDetail) -> list[Choice]:
    """The sweep's metric (valid, then test; for a rolling evaluation test first: each
    round's test window is the next stretch of time) first, then every other metric a trial
    has."""
    splits = ("test", "valid") if detail.method == ROLLING else ("valid", "test")
    choices = [Choice(split, detail.metric) for split in splits]
    for split in ("test", "valid"):
        present = {m for t in detail.trials for m in (t.test if split == "test" else t.valid)}
        choices += [Choice(split, m) for m in sorted(present) if Choice(split, m) not in choices]
    return [c for c in choices
            if c == choices[0] or any(c.value(t) is not None for t in detail.trials)]


def plot_params(detail: SweepDetail) -> list[str]:
    """The params worth a column (and an x axis): all of them, except in a rolling sweep a
    param that only repeats the round number."""
    if detail.method != ROLLING:
        return detail.params
    return [p for p in detail.params
            if any(t.params.get(p) != t.number for t in detail.trials)]


class TrialColumn(NamedTuple):
    """A column of the trials table: key, two-line label, cell text, sort key, default order,
    and whether it holds numbers (right-aligned)."""

    key: str
    label: str
    text: Callable[[SweepTrial], str]
    sort: Callable[[SweepTrial], Any]
    descending: bool = False
    numeric: bool = False


def _param_sort(value: Any) -> tuple[int, float, str] | None:
    """Numbers before other values, each in their order; a missing value sorts last."""
    if value is None:
        return None
    if _is_number(value):
        return (0, float(value), "") if math.isfinite(value) else None
    return (1, 0.0, fmt_param(value))


def _metric_sort(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def trial_columns(detail: SweepDetail) -> list[TrialColumn]:
    """Trial number (the round of a rolling sweep), status, each param, then the sweep's
    metric on validation and test."""
    number = "round" if detail.method == ROLLING else "#"
    params = plot_params(detail)
    names = short_names(params)
    better = detail.direction != "minimize"
    columns = [
        TrialColumn("number", f"{number}\n", lambda t: str(t.number), lambda t: t.number,
                    numeric=True),
        TrialColumn("status", "status\n", lambda t: t.status, lambda t: t.status),
    ]
    columns += [TrialColumn(f"param:{p}", f"{names[p]}\n", lambda t, p=p: fmt_param(
        t.params.get(p)), lambda t, p=p: _param_sort(t.params.get(p)),
        numeric=all(_is_number(t.params.get(p)) for t in detail.trials if p in t.params))
        for p in params]
    for choice in (Choice("valid", detail.metric), Choice("test", detail.metric)):
        columns.append(TrialColumn(
            f"{choice.split}:{choice.metric}", f"{choice.metric}\n({choice.split})",
            lambda t, c=choice: fmt_value(c.value(t)),
            lambda t, c=choice: _metric_sort(c.value(t)), better, numeric=True))
    return columns


def sort_trials(trials: list[SweepTrial], column: TrialColumn | None,
                reverse: bool) -> list[SweepTrial]:
    """``trials`` sorted by ``column`` (missing values last), or as they are."""
    if column is None:
        return list(trials)
    present = [t for t in trials if column.sort(t) is not None]
    missing = [t for t in trials if column.sort(t) is None]
    return sorted(present, key=column.sort, reverse=reverse) + missing


@dataclass(frozen=True)
class SweepPlot:
    """A metric against a parameter: points, x ticks (value labels at their positions), the
    best trial's x, and whether to join the points (rounds, in order) or not (a scatter)."""

    title: str
    xname: str
    xs: list[float]
    ys: list[float]
    ticks: list[tuple[float, str]]
    mark: float | None
    joined: bool
    #: Why some trials are not drawn, or what there is to draw yet; "" when all are drawn.
    note: str


def _positions(values: list[Any]) -> tuple[dict[str, float], list[tuple[float, str]], str]:
    """x position of each value (by its text), the ticks, and the scale's name."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if distinct and all(_is_number(v) and math.isfinite(v) for v in distinct):
        ordered = sorted(distinct)
        log = ordered[0] > 0 and ordered[-1] / ordered[0] >= LOG_SPAN
        at = {fmt_param(v): math.log10(v) if log else float(v) for v in ordered}
        return at, [(x, label) for label, x in at.items()], "log" if log else ""
    at = {fmt_param(v): float(i) for i, v in enumerate(distinct)}
    return at, [(x, label) for label, x in at.items()], ""


def sweep_plot(detail: SweepDetail, param: str | None, choice: Choice) -> SweepPlot:
    """``choice`` against ``param`` over the completed trials; against the trial number, with
    the points joined, for a rolling sweep (its rounds) or when there is no param.

    Numbers go on a linear axis, or a log one when they span two decades or more; other
    values (strings, booleans) are evenly spaced labels in the order trials first used them.
    Failed and unfinished trials, and trials without a value, are left out and counted.
    """
    by_trial = detail.method == ROLLING or param is None
    values = [t.number if by_trial else t.params.get(param) for t in detail.trials]
    at, ticks, scale = _positions(values)
    drawn = [(at[fmt_param(v)], y, t) for v, t in zip(values, detail.trials, strict=True)
             if t.status == "completed" and v is not None
             and (y := choice.value(t)) is not None and math.isfinite(y)]
    unit = "rounds" if detail.method == ROLLING else "trials"
    left = len(detail.trials) - len(drawn)
    note = "" if not left else f"{left} of {len(detail.trials)} not drawn"
    if not detail.trials:
        note = f"no {unit} yet"
    elif not drawn:
        note = f"no finished {unit} with {choice.label} yet"
    best = next((x for x, _, t in drawn if t.run_id == detail.best_run_id), None)
    if detail.method == ROLLING:
        title, xname = f"{choice.label} per round", "round"
    elif param is None:
        title, xname = f"{choice.label} per trial", "trial"
    else:
        xname = short_names([param])[param]
        title = f"{choice.label} against {param}" + (" (log scale)" if scale else "")
    xs = [x for x, _, _ in drawn]
    return SweepPlot(title, xname, xs, [y for _, y, _ in drawn],
                     [(x, label) for x, label in ticks if x in xs], best, joined=by_trial,
                     note=note)
