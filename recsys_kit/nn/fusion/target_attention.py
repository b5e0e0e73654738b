"""Target attention (DIN-style): each candidate item attends over the user's encoded history."""

from __future__ import annotations

import math

import torch
from torch import nn

from recsys_kit.builtin.fusion import TargetAttentionConfig
from recsys_kit.nn.model import Fusion, ModelShape


class TargetAttention(Fusion):
    """``P(X, Y) = Attention(E(X), F(Y))``: the candidate's vector is the query, the encoded
    history positions are keys and values.

    Weights are a softmax over the valid history positions a prediction may see (padding and,
    in training, later positions get exactly zero), so they sum to one and are the stored
    "why" of a recommendation. The fused vector joins the attended history, the candidate,
    their product, the latest state and its product with the candidate; with ``ratings``
    (explicit feedback) also the attention-weighted and the plain mean of the user's ratings.
    """

    pairwise = True

    def __init__(self, config: TargetAttentionConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        dim = shape.dim
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim)
        self.width = 5 * dim + 2

    def user_state(self, states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The latest position's state (what a retrieval stage scores with)."""
        return states[:, -1]

    def attend(
        self,
        states: torch.Tensor,
        valid: torch.Tensor,
        candidates: torch.Tensor,
        upto: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse each candidate with the history it may see.

        ``states`` (B, L, D) and ``valid`` (B, L) are the encoded history; ``candidates``
        (B, P, C, D) holds C candidates for each of P prediction points; ``upto`` (B, P) is the
        last history position each point may see (default: all, one point at the end);
        ``ratings`` (B, L) the history's ratings. Returns fused (B, P, C, width) and the
        attention weights (B, P, C, L).
        """
        length = states.shape[1]
        if upto is None:
            upto = torch.full((states.shape[0], 1), length - 1, device=states.device)
        positions = torch.arange(length, device=states.device)
        allowed = valid[:, None, :] & (positions[None, None, :] <= upto[:, :, None])  # B P L
        scores = torch.einsum("bpcd,bld->bpcl", self.query(candidates), self.key(states))
        scores = (scores * self.scale).float().masked_fill(~allowed[:, :, None, :], -torch.inf)
        # A point with no visible history gets all-zero weights rather than NaN.
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        attended = torch.einsum("bpcl,bld->bpcd", weights.to(states.dtype), states)
        latest = states.gather(1, upto[:, :, None].expand(-1, -1, states.shape[2]))  # B P D
        latest = latest[:, :, None, :].expand_as(candidates)
        parts = [attended, candidates, attended * candidates, latest, latest * candidates]
        rating_parts = torch.zeros(*candidates.shape[:3], 2, device=states.device,
                                   dtype=states.dtype)
        if ratings is not None:  # unrated (NaN) positions count in neither mean
            rated = ~ratings.isnan()
            values = ratings.nan_to_num(0.0).float()
            w = weights * rated[:, None, None, :]
            weighted = (w * values[:, None, None, :]).sum(-1) / w.sum(-1).clamp(min=1e-6)
            seen = (allowed & rated[:, None, :]).float()
            mean = (values[:, None, :] * seen).sum(-1) / seen.sum(-1).clamp(min=1.0)
            rating_parts = torch.stack([weighted, mean[:, :, None].expand_as(weighted)], -1)
        fused = torch.cat([*parts, rating_parts.to(states.dtype)], dim=-1)
        return fused, weights


def build_target_attention(config: TargetAttentionConfig, shape: ModelShape) -> TargetAttention:
    """Target attention fusion."""
    return TargetAttention(config, shape)
