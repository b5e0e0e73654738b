"""The most-popular baseline: one score per item, the same for every user."""

from __future__ import annotations

import numpy as np
import torch

from recsys_kit.data import SequenceData
from recsys_kit.nn.model import DirectRecommender, ModelShape
from recsys_kit.stages import NoParams


class Popularity(DirectRecommender):
    """Scores every item by its number of training interactions (the same for every user)."""

    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.register_buffer("counts", torch.zeros(shape.n_tokens))

    def fit(self, data: SequenceData) -> None:
        """Count training interactions per item."""
        counts = np.zeros(self.counts.shape[0], dtype=np.float32)
        train = data.train_counts()
        counts[: len(train)] = train
        counts[0] = counts[-1] = float("-inf")  # padding and mask are never candidates
        self.counts.copy_(torch.from_numpy(counts))

    def scores(self, history: torch.Tensor) -> torch.Tensor:
        """The popularity scores, repeated for each user in the batch."""
        return self.counts.expand(history.shape[0], -1)


def build_popularity(config: NoParams, shape: ModelShape) -> Popularity:
    """Most-popular baseline."""
    return Popularity(shape)
