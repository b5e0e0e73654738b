"""Full-catalogue softmax cross-entropy of dot-product scores, sized to the device's memory.

The logits matrix (positions x items) is the biggest thing a sequential recommender builds.
How it is computed depends on how many of its rows fit in the memory budget
(``recsys_kit.nn.precision.memory_budget``, a documented share of the free memory):

* all rows fit (ML-1M-sized batches on a GPU, and on a CPU with a few GB free): one matrix
  product and a float32 log-softmax, kept for the backward pass, which turns it into the
  gradient in place, with no second product;
* otherwise, row chunks: each chunk is scored, reduced to its log-sum-exp and dropped, and the
  backward pass recomputes the chunk's logits and turns them straight into gradients; one
  extra matrix product buys a footprint bounded by the budget.

On CUDA under bf16, with the ``gpu`` extra installed, a fused kernel computes the same loss
without writing the logits to memory at all (``recsys_kit.nn.heads.fused_kernel``).
"""

from __future__ import annotations

from typing import Literal

import torch

from recsys_kit.nn.heads.fused_kernel import fused_dot_cross_entropy, fused_kernel_usable
from recsys_kit.nn.precision import compute_dtype, memory_budget

#: Bytes per logit at the peak of either path: the product in the compute dtype, its float32
#: copy and the float32 log-softmax (or probabilities) made from it.
BYTES_PER_LOGIT = 10

Kernel = Literal["auto", "torch"]


def rows_per_chunk(n_items: int, device: torch.device) -> int:
    """Rows of logits over ``n_items`` columns that fit in ``device``'s memory budget."""
    return max(1, memory_budget(device) // (BYTES_PER_LOGIT * max(n_items, 1)))


class _KeptLogSoftmax(torch.autograd.Function):
    """All rows at once; the log-softmax is kept and becomes the gradient in place."""

    @staticmethod
    def forward(ctx, states, items, targets, dtype):
        s, w = states.to(dtype), items.to(dtype)
        log_probs = torch.log_softmax((s @ w.T).float(), dim=1)
        loss = -log_probs.gather(1, targets[:, None]).mean()
        ctx.save_for_backward(s, w, targets, log_probs)
        ctx.dtypes = states.dtype, items.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        s, w, targets, log_probs = ctx.saved_tensors
        grad = log_probs.exp_()  # the softmax; the log-probabilities are not needed again
        grad[torch.arange(len(grad), device=grad.device), targets] -= 1.0
        grad = grad.mul_(grad_out.float() / len(grad)).to(s.dtype)
        states_dtype, items_dtype = ctx.dtypes
        return (grad @ w).to(states_dtype), (grad.T @ s).to(items_dtype), None, None


class _ChunkedDotCrossEntropy(torch.autograd.Function):
    """Row chunks; the backward pass recomputes each chunk's logits."""

    @staticmethod
    def forward(ctx, states, items, targets, dtype, chunk):
        s, w = states.to(dtype), items.to(dtype)
        lse = torch.empty(len(states), dtype=torch.float32, device=states.device)
        picked = torch.empty_like(lse)
        for start in range(0, len(states), chunk):
            rows = slice(start, start + chunk)
            logits = (s[rows] @ w.T).float()
            lse[rows] = torch.logsumexp(logits, dim=1)
            picked[rows] = logits.gather(1, targets[rows, None]).squeeze(1)
        ctx.save_for_backward(states, items, targets, lse)
        ctx.compute_dtype, ctx.chunk = dtype, chunk
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
    states: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
    max_rows: int | None = None, kernel: Kernel = "auto",
) -> torch.Tensor:
    """Mean softmax cross-entropy of ``states @ items.T`` against ``targets`` (row indices).

    ``states`` (N, D), ``items`` (V, D), ``targets`` (N,) in ``[0, V)``. Matrix products run in
    the autocast dtype when autocast is on, the softmax always in float32. ``max_rows`` caps the
    rows scored at once (default: as many as the memory budget allows); ``kernel="auto"`` takes
    the fused kernel where it is usable, ``"torch"`` never does.
    """
    device = states.device
    dtype = compute_dtype(device, states.dtype)
    if kernel == "auto" and fused_kernel_usable(device, dtype):
        return fused_dot_cross_entropy(states, items, targets, dtype)
    rows = max_rows or rows_per_chunk(len(items), device)
    with torch.autocast(device.type, enabled=False):
        if rows >= len(states):
            return _KeptLogSoftmax.apply(states, items, targets, dtype)
        return _ChunkedDotCrossEntropy.apply(states, items, targets, dtype, rows)
