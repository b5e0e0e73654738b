"""The result every evaluator returns: mean metrics and the per-user values behind them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EvalResult:
    """Mean metrics keyed ``name@k`` (or ``name`` without a cut-off), and per-user values.

    ``metrics`` maps each key to its mean over ``users``; ``per_user`` maps the same keys to
    one value per entry of ``users``; ``users`` holds the user indices (rows of the ranking or
    of the pair predictions) that the per-user values belong to.
    """

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
