"""Full-catalogue softmax cross-entropy of dot-product scores, computed in row chunks.

The logits matrix (positions x items) is the biggest thing a sequential recommender builds;
materialising it in full costs several passes over memory (logits, log-softmax, its gradient,
a zero-filled NLL gradient). Here each chunk of rows is scored, reduced to its log-sum-exp and
dropped; the backward pass recomputes the chunk's logits and turns them straight into
gradients. One extra matrix product buys far less memory traffic and a bounded footprint.
"""

from __future__ import annotations

import torch

CHUNK_ROWS = 512


class _ChunkedDotCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, states, items, targets, compute_dtype, chunk):
        s, w = states.to(compute_dtype), items.to(compute_dtype)
        lse = torch.empty(len(states), dtype=torch.float32, device=states.device)
        picked = torch.empty_like(lse)
        for start in range(0, len(states), chunk):
            rows = slice(start, start + chunk)
            logits = (s[rows] @ w.T).float()
            lse[rows] = torch.logsumexp(logits, dim=1)
            picked[rows] = logits.gather(1, targets[rows, None]).squeeze(1)
        ctx.save_for_backward(states, items, targets, lse)
        ctx.compute_dtype, ctx.chunk = compute_dtype, chunk
        return (lse - picked).mean()

    @staticmethod
    def backward(ctx, grad_out):
        states, items, targets, lse = ctx.saved_tensors
        dtype, chunk = ctx.compute_dtype, ctx.chunk
        s, w = states.to(dtype), items.to(dtype)
        grad_states = torch.empty_like(states)
        grad_items = torch.zeros(items.shape, dtype=torch.float32, device=items.device)
        scale = grad_out.float() / len(states)
        for start in range(0, len(states), chunk):
            rows = slice(start, start + chunk)
            probs = (s[rows] @ w.T).float().sub_(lse[rows, None]).exp_()
            probs[torch.arange(len(probs), device=probs.device), targets[rows]] -= 1.0
            probs = probs.mul_(scale).to(dtype)
            grad_states[rows] = (probs @ w).to(states.dtype)
            grad_items += (probs.T @ s[rows]).float()
        return grad_states, grad_items.to(items.dtype), None, None, None


def dot_cross_entropy(
    states: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, chunk: int = CHUNK_ROWS
) -> torch.Tensor:
    """Mean softmax cross-entropy of ``states @ items.T`` against ``targets`` (row indices).

    ``states`` (N, D), ``items`` (V, D), ``targets`` (N,) in ``[0, V)``. Matrix products run in
    the autocast dtype when autocast is on, the softmax always in float32.
    """
    device = states.device.type
    dtype = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
             else states.dtype)
    with torch.autocast(device, enabled=False):
        return _ChunkedDotCrossEntropy.apply(states, items, targets, dtype, chunk)
