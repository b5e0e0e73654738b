"""The dot-product scorer and its losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys_kit.builtin.scorers import DotConfig
from recsys_kit.nn.heads.losses import dot_cross_entropy
from recsys_kit.nn.model import ModelShape, Scorer


class Dot(Scorer):
    """Score = state · item vector; padding and mask tokens never score."""

    def __init__(self, config: DotConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        self.n_items = shape.n_items

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

    def _negatives(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(1, self.n_items + 1, (n,), device=device)

    def loss(
        self, states: torch.Tensor, targets: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
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
