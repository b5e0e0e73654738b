"""The dot-product scorer; its losses live in their own modules of this package."""

from __future__ import annotations

import torch
from torch import nn

from recsys_kit.builtin.scorers import DotConfig
from recsys_kit.nn.heads.binary import BinaryCrossEntropy, GeneralisedBinaryCrossEntropy
from recsys_kit.nn.heads.full_softmax import dot_cross_entropy
from recsys_kit.nn.heads.sampled_softmax import SampledSoftmax
from recsys_kit.nn.heads.sce import ScalableCrossEntropy
from recsys_kit.nn.model import ModelShape, Scorer


def build_criterion(config: DotConfig, shape: ModelShape) -> nn.Module | None:
    """The large-catalogue loss the config asks for (None: the full softmax)."""
    if config.loss == "sampled_softmax":
        return SampledSoftmax(shape.item_counts[1:shape.n_items + 1], config.negatives,
                              config.sampler, config.in_batch,
                              target_counts=shape.target_counts()[1:shape.n_items + 1])
    if config.loss == "gbce":
        return GeneralisedBinaryCrossEntropy(shape.n_items, config.negatives, config.gbce_t,
                                             config.negative_block)
    if config.loss == "sce":
        return ScalableCrossEntropy(config.buckets, config.bucket_states, config.bucket_items,
                                    config.mix_states)
    if config.loss == "bce":
        return BinaryCrossEntropy(config.negatives, config.negative_block)
    return None


class Dot(Scorer):
    """Score = state · item vector; padding and mask tokens never score."""

    def __init__(self, config: DotConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        self.n_items = shape.n_items
        self.criterion = build_criterion(config, shape)

    def logits(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Scores of every token in float32; padding (0) and mask (last) are -inf.

        Ranking scores stay in float32 even under bf16 autocast: bf16 keeps 8 bits of
        mantissa, so close scores would tie and the top-K order would depend on item ids.
        """
        with torch.autocast(states.device.type, enabled=False):
            out = states.float() @ table.float().T
        out[:, 0] = float("-inf")
        out[:, self.n_items + 1:] = float("-inf")
        return out

    def loss(
        self, states: torch.Tensor, targets: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss over the given positions (0, with zero gradients, when there are none)."""
        # Only real items are candidates: padding (row 0) and mask (last row) never score.
        items, rows = table[1 : self.n_items + 1], targets - 1
        if len(rows) == 0:  # a mean over nothing is NaN
            return (states.sum() + items.sum()) * 0.0
        if self.criterion is None:
            return dot_cross_entropy(states, items, rows, kernel=self.config.kernel)
        return self.criterion(states, rows, items)


def build_dot(config: DotConfig, shape: ModelShape) -> Dot:
    """Dot-product scorer."""
    return Dot(config, shape)
