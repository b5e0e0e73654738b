"""The MLP scorer: interest ``I = σ(W·P)`` of a fused (user, candidate) vector ``P``."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from recsys_kit.builtin.scorers import MlpConfig
from recsys_kit.nn.model import ModelShape, Scorer


class MlpScorer(Scorer):
    """An MLP from a pairwise fusion's vector to one logit per (user, candidate).

    ``bce`` (implicit feedback): the logit's sigmoid is the probability of interest.
    ``mse`` (explicit ratings): the output is the predicted rating (offset by the training
    mean, so an untrained model predicts the mean).
    """

    pairwise = True

    def __init__(self, config: MlpConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        widths = [shape.fused_width or shape.dim, *config.hidden]
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(widths):
            layers += [nn.Linear(n_in, n_out), nn.ReLU(), nn.Dropout(config.dropout)]
        last = nn.Linear(widths[-1], 1)
        # Start from no opinion: the mean rating (mse), or the retrieval order (two-stage).
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)
        self.offset = shape.rating_mean if config.loss == "mse" else 0.0

    def pair_logits(self, fused: torch.Tensor) -> torch.Tensor:
        """(..., width) fused vectors -> (...) float32 logits (or predicted ratings)."""
        return self.net(fused).squeeze(-1).float() + self.offset

    def pair_loss(
        self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """BCE against 0/1 labels, or MSE against ratings, over the pairs where ``weight``
        (zero, with gradients, when no pair counts). A weighted mean, not a boolean index:
        selecting the pairs would wait for the device to count them."""
        labels = torch.where(weight, labels.float(), 0.0)  # NaN ratings of unused pairs
        if self.config.loss == "mse":
            per_pair = F.mse_loss(logits, labels, reduction="none")
        else:
            per_pair = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        counted = weight.to(per_pair.dtype)
        return (per_pair * counted).sum() / counted.sum().clamp(min=1)

    def interest(self, logits: torch.Tensor) -> torch.Tensor:
        """What a recommendation's score means: probability (bce) or predicted rating (mse)."""
        return logits if self.config.loss == "mse" else torch.sigmoid(logits)


def build_mlp(config: MlpConfig, shape: ModelShape) -> MlpScorer:
    """MLP scorer."""
    return MlpScorer(config, shape)
