"""What an evaluator receives besides the ranking: the catalogue, popularity, item columns.

Plugin authors import :class:`EvalContext` from here. An evaluator's ``evaluate`` may take
``(ranking, context)``; the older one-argument ``evaluate(ranking)`` still works (the runner
looks at the signature once, :func:`evaluate_with`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class EvalContext:
    """The data around a ranking: what metrics beyond accuracy need.

    Arrays indexed by *token* have one row per token: 0 is padding, ``1..n_items`` the items
    (token ``t`` is ``item_ids[t - 1]``), and for ``item_vectors`` the last row is the mask
    token. Arrays indexed by *item row* have one row per item: row ``i`` is token ``i + 1``.
    """

    #: Which split is evaluated: ``"valid"`` (every epoch) or ``"test"``.
    split: str
    #: The item ids as in the input data, by item row (``n_items`` of them).
    item_ids: np.ndarray
    #: Training interactions per token (index 0, padding, is 0): item popularity.
    item_counts: np.ndarray
    #: Item side columns (strings, e.g. ``title``, ``genres``), by item row.
    item_side: dict[str, np.ndarray] = field(default_factory=dict)
    #: Numeric item features (e.g. text embeddings), by item row.
    item_features: dict[str, np.ndarray] = field(default_factory=dict)
    #: Computes the model's item table; see :attr:`item_vectors`.
    vectors: Callable[[], np.ndarray | None] | None = field(default=None, repr=False)
    _vectors: np.ndarray | None = field(default=None, init=False, repr=False)
    _vectors_done: bool = field(default=False, init=False, repr=False)

    @property
    def n_items(self) -> int:
        """Catalogue size: the number of real items."""
        return len(self.item_ids)

    @property
    def item_vectors(self) -> np.ndarray | None:
        """The model's item table as float32 (n_items + 2, dim), by token; None for models
        without one (popularity and other direct recommenders). Computed once, on first use,
        with the weights being evaluated."""
        if not self._vectors_done:
            self._vectors = self.vectors() if self.vectors is not None else None
            self._vectors_done = True
        return self._vectors

    def popularity_share(self) -> np.ndarray:
        """Per token, its share of training interactions, Laplace-smoothed so that items never
        seen in training have a small non-zero share: ``(count + 1) / (total + n_items)``.
        Index 0 (padding) is 0."""
        counts = self.item_counts[: self.n_items + 1].astype(np.float64)
        share = (counts + 1.0) / (counts[1:].sum() + self.n_items)
        share[0] = 0.0
        return share


def takes_context(evaluate: Callable[..., Any]) -> bool:
    """Whether ``evaluate`` accepts a second positional argument (the context)."""
    try:
        params = list(inspect.signature(evaluate).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)


def evaluate_with(evaluator: Any, inputs: Any, context: EvalContext) -> Any:
    """Call ``evaluator.evaluate(inputs, context)``, or ``evaluate(inputs)`` for evaluators
    written before the context existed."""
    if takes_context(evaluator.evaluate):
        return evaluator.evaluate(inputs, context)
    return evaluator.evaluate(inputs)
