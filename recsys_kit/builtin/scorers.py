"""Built-in scorer: dot product with full softmax, sampled softmax or BCE with negatives."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from recsys_kit.hookspecs import hookimpl
from recsys_kit.nn.losses import dot_cross_entropy
from recsys_kit.nn.model import ModelShape, Scorer
from recsys_kit.stages import Family, StageConfig, StageSpec


class DotConfig(StageConfig):
    """Dot-product scorer and its loss."""

    loss: Literal["cross_entropy", "sampled_softmax", "bce"] = Field(
        "cross_entropy",
        description="`cross_entropy`: full softmax over the catalogue; `sampled_softmax`: "
        "softmax over the target and `negatives` uniform samples; `bce`: binary "
        "cross-entropy of the target against `negatives` samples.",
    )
    negatives: int = Field(
        256, ge=1, description="Sampled negatives per batch (sampled_softmax, bce)."
    )


class Dot(Scorer):
    """Score = state · item vector; padding and mask tokens never score."""

    def __init__(self, config: DotConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        self.n_items = shape.n_items

    def logits(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Scores of every token; padding (0) and mask (last) are -inf."""
        out = states @ table.T
        out[:, 0] = float("-inf")
        out[:, self.n_items + 1:] = float("-inf")
        return out

    def _negatives(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(1, self.n_items + 1, (n,), device=device)

    def loss(self, states: torch.Tensor, targets: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Mean loss over the given positions."""
        if self.config.loss == "cross_entropy":
            # Only real items get a column: padding and mask tokens are never candidates.
            return dot_cross_entropy(states, table[1 : self.n_items + 1], targets - 1)
        negatives = self._negatives(self.config.negatives, states.device)
        pos = (states * table[targets]).sum(-1, keepdim=True)
        neg = states @ table[negatives].T
        # A sampled negative that is the target itself must not count against it.
        neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
        if self.config.loss == "sampled_softmax":
            logits = torch.cat([pos, neg], dim=1).float()
            return F.cross_entropy(logits, torch.zeros_like(targets))
        neg_loss = F.softplus(neg.float()).masked_fill(neg.isinf(), 0).mean(-1)
        return (F.softplus(-pos.float()).squeeze(-1) + neg_loss).mean()


def build_dot(config: DotConfig, shape: ModelShape) -> Dot:
    """Dot-product scorer."""
    return Dot(config, shape)


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in scorers."""
    return [
        StageSpec(Family.SCORER, "dot", DotConfig, build_dot,
                  "Dot product of user state and item vector; CE, sampled softmax or BCE."),
    ]
