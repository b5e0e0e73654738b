"""Predicted scores of held-out (user, item) pairs: what rating evaluators read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PairPredictions:
    """One row per held-out interaction: user index, item token, prediction and true rating."""

    users: np.ndarray
    items: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
