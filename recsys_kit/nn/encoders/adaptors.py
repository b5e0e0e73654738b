"""Adaptors from a pretrained model's width into the recommender's ``dim``."""

from __future__ import annotations

import torch
from torch import nn


class MoEAdaptor(nn.Module):
    """UniSRec's adaptor: experts ``(x - b_k) W_k`` (parametric whitening), mixed by a gate.

    The gate is a softmax over experts computed from ``x`` itself, so different kinds of
    text can use different projections.
    """

    def __init__(self, n_in: int, n_out: int, experts: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(experts, n_in))
        self.weight = nn.Parameter(torch.empty(experts, n_in, n_out))
        nn.init.normal_(self.weight, std=0.02)
        self.gate = nn.Parameter(torch.zeros(n_in, experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_in) -> (N, n_out)."""
        gates = torch.softmax(x @ self.gate, dim=-1)
        n_experts, n_in, n_out = self.weight.shape
        # (x - b_k) W_k = x W_k - b_k W_k: one (N, in) x (in, E * out) product, without
        # materialising the (N, E, in) differences.
        projected = (x @ self.weight.transpose(0, 1).reshape(n_in, n_experts * n_out))
        shifts = torch.einsum("ei,eio->eo", self.bias, self.weight)
        experts = projected.view(-1, n_experts, n_out) - shifts
        return (gates[..., None] * experts).sum(1)


def build_adaptor(kind: str, n_in: int, n_out: int, experts: int = 8) -> nn.Module:
    """``linear`` or ``moe``."""
    if kind == "moe":
        return MoEAdaptor(n_in, n_out, experts)
    return nn.Linear(n_in, n_out)
