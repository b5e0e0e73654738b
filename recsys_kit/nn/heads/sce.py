"""Scalable Cross-Entropy (Mezentsev et al., RecSys 2024): the softmax over the target and only
the negatives that matter, found by bucketing.

For a batch, ``buckets`` random directions are drawn in the state space (with ``mix_states``,
random mixtures of the batch's states, so the directions follow where the states are). Each
bucket takes the ``bucket_states`` states and the ``bucket_items`` items that score highest
along its direction; a state and an item that share a bucket tend to have a high dot product,
so every bucket yields a small block of the hardest logits. A state's loss is the softmax
cross-entropy of its target against the items of its bucket (accidental hits of the target
masked out); a state that lands in several buckets counts with the hardest of them, and states
in no bucket sit this batch out. The bucket search runs without gradients; costs are
``buckets × (N + V) × D`` for the search and ``buckets × bucket_states × bucket_items × D``
for the logits, instead of ``N × V × D``. The paper sets buckets and bucket_states to
``2·√N`` for N positions, which is what ``None`` means here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScalableCrossEntropy(nn.Module):
    """SCE loss over an item table (see the module docstring)."""

    def __init__(
        self, buckets: int | None, bucket_states: int | None, bucket_items: int,
        mix_states: bool,
    ) -> None:
        super().__init__()
        self.buckets, self.bucket_states = buckets, bucket_states
        self.bucket_items, self.mix_states = bucket_items, mix_states

    def sizes(self, n_states: int, n_items: int) -> tuple[int, int, int]:
        """Buckets, states per bucket and items per bucket for a batch of ``n_states``."""
        auto = math.ceil(2 * math.sqrt(n_states))
        return (self.buckets or auto, min(self.bucket_states or auto, n_states),
                min(self.bucket_items, n_items))

    @torch.no_grad()
    def bucket_members(
        self, states: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of ``states`` (buckets, bucket_states) and of ``items`` (buckets,
        bucket_items) that score highest along each bucket's random direction."""
        n_buckets, per_states, per_items = self.sizes(len(states), len(items))
        if self.mix_states:
            mixing = torch.randn(n_buckets, len(states), device=states.device, dtype=states.dtype)
            directions = mixing @ states
        else:
            directions = torch.randn(n_buckets, states.shape[1], device=states.device,
                                     dtype=states.dtype)
        top_states = (directions @ states.T).topk(per_states, dim=1).indices
        top_items = (directions @ items.to(states.dtype).T).topk(per_items, dim=1).indices
        return top_states, top_items

    def forward(
        self, states: torch.Tensor, targets: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss of ``states`` (N, D) predicting ``targets`` (N,), rows of ``items`` (V, D),
        over the states that fall in at least one bucket."""
        top_states, top_items = self.bucket_members(states.detach(), items.detach())
        # F.embedding, not x[...]: its backward is deterministic on every device.
        positive = (states * F.embedding(targets, items)).sum(-1).float()
        negative = (F.embedding(top_states, states)
                    @ F.embedding(top_items, items).transpose(1, 2)).float()
        hit = targets[top_states][:, :, None] == top_items[:, None, :]
        negative = negative.masked_fill(hit, float("-inf"))
        bucket_positive = F.embedding(top_states, positive[:, None]).squeeze(-1)
        logits = torch.cat([bucket_positive[:, :, None], negative], dim=2)
        per_bucket = torch.logsumexp(logits, dim=2) - bucket_positive
        hardest = torch.full_like(positive, float("-inf")).scatter_reduce(
            0, top_states.flatten(), per_bucket.flatten(), reduce="amax")
        # A mean over the finite entries without selecting them: a boolean index would wait
        # for the device to say how many there are.
        counted = hardest.isfinite()
        return torch.where(counted, hardest, 0.0).sum() / counted.sum().clamp(min=1)
