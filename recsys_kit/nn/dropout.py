"""Dropout whose random mask costs less on a CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys_kit.nn.precision import uniform_dropout


class Dropout(nn.Module):
    """``nn.Dropout`` (zero each value with probability ``p``, scale the rest by
    ``1 / (1 - p)``), with the mask drawn from uniform numbers on devices where that is faster
    than PyTorch's Bernoulli draws (``recsys_kit.nn.precision.uniform_dropout``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with dropout applied in training mode, unchanged in evaluation mode."""
        if not self.training or self.p == 0:
            return x
        if not uniform_dropout(x.device):
            return F.dropout(x, self.p, training=True)
        keep = torch.rand_like(x, dtype=torch.float32) >= self.p
        return x * keep.to(x.dtype).mul_(1 / (1 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"
