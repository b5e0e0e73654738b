"""A full-catalogue ranking: top-K items per user, with each user's held-out targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: Token in ``Ranking.items`` where a user had fewer than K rankable items (all seen).
NO_ITEM = 0


@dataclass
class Ranking:
    """Top-K tokens and scores per user, with each user's held-out targets.

    ``items`` and ``scores`` are (users, K); a slot holds ``NO_ITEM`` (score -inf) where the
    user had fewer than K unseen items. ``targets[u]`` holds user ``u``'s distinct target
    tokens (empty where the user has none in this split).
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    targets: list[np.ndarray]

    def hits(self) -> tuple[np.ndarray, np.ndarray]:
        """(users with targets,) indices and their (n, K) hit matrix."""
        lens = np.fromiter((len(t) for t in self.targets), dtype=np.int64,
                           count=len(self.targets))
        rows = np.flatnonzero(lens)
        if not len(rows):
            return rows, np.zeros((0, self.items.shape[1]), dtype=bool)
        # One key per (row, token): membership without a rows x K x targets array.
        width = int(max(self.items.max(initial=0), max(t.max() for t in self.targets
                                                       if len(t))) + 1)
        target_keys = np.concatenate([r * width + self.targets[r] for r in rows])
        top_keys = rows[:, None] * width + self.items[rows]
        return rows, np.isin(top_keys, target_keys) & (self.items[rows] != NO_ITEM)


def recommendations_mask_seen(evaluators: Iterable[object]) -> bool:
    """Whether the stored and served recommendations leave out the items a user has seen:
    yes, unless every ranking evaluator ranks them in (``mask_seen: false``). Each evaluator
    is measured on a ranking with its own setting."""
    rankers = [e for e in evaluators if getattr(e, "kind", "ranking") == "ranking"]
    return not rankers or any(getattr(e, "mask_seen", True) for e in rankers)
