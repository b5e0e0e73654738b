"""A full-catalogue ranking: top-K items per user, with each user's held-out targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Ranking:
    """Top-K tokens and scores per user, with each user's held-out targets.

    ``items`` and ``scores`` are (users, K); ``targets[u]`` holds user ``u``'s target tokens
    (empty where the user has none in this split).
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
        padded = np.full((len(rows), max(int(lens.max(initial=0)), 1)), -1, dtype=np.int64)
        for out, row in enumerate(rows):
            padded[out, : lens[row]] = self.targets[row]
        hit = (self.items[rows][:, :, None] == padded[:, None, :]).any(-1)
        return rows, hit
