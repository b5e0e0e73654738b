"""Rating baselines: the global mean rating, and each item's mean rating."""

from __future__ import annotations

import numpy as np
import torch

from recsys_kit.columns import TRAIN
from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.model import DirectRecommender, ModelShape
from recsys_kit.stages import NoParams


class MeanRating(DirectRecommender):
    """Predicts the training mean rating: of all interactions, or (``per_item``) of the item,
    falling back to the global mean for items without training ratings."""

    def __init__(self, shape: ModelShape, per_item: bool) -> None:
        super().__init__()
        self.per_item = per_item
        self.register_buffer("predicted", torch.zeros(shape.n_tokens))

    def fit(self, data: SequenceData) -> None:
        """Mean training ratings."""
        if data.ratings is None:
            raise RecsysKitError("A mean-rating baseline needs ratings; the data has none. "
                                 "Map a rating column in data.ingest.params.")
        train = (data.split == TRAIN) & ~np.isnan(data.ratings)
        overall = float(data.ratings[train].mean())
        predicted = np.full(self.predicted.shape[0], overall, dtype=np.float64)
        if self.per_item:
            tokens, values = data.items[train], data.ratings[train].astype(np.float64)
            sums = np.bincount(tokens, values, minlength=len(predicted))
            counts = np.bincount(tokens, minlength=len(predicted))
            predicted = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
        predicted[0] = predicted[-1] = -np.inf  # padding and mask are never candidates
        self.predicted.copy_(torch.from_numpy(predicted.astype(np.float32)))

    def scores(self, history: torch.Tensor) -> torch.Tensor:
        """Predicted rating of every token, the same for every user."""
        return self.predicted.expand(history.shape[0], -1)


def build_global_mean(config: NoParams, shape: ModelShape) -> MeanRating:
    """Global mean rating baseline."""
    return MeanRating(shape, per_item=False)


def build_item_mean(config: NoParams, shape: ModelShape) -> MeanRating:
    """Per-item mean rating baseline."""
    return MeanRating(shape, per_item=True)
