"""Full-catalogue softmax cross-entropy of dot-product scores, sized to the device's memory.

The logits matrix (positions x items) is the biggest thing a sequential recommender builds.
How it is computed depends on the memory budget (``recsys_kit.nn.precision.memory_budget``, a
documented share of the free memory):

* the logits fit in half the budget (ML-1M-sized batches on a GPU, or on a CPU with a few GB
  free): one matrix product, kept in the compute dtype and turned into probabilities in
  place, float32 row chunks at a time (sized to the other half, and on a CPU to the cache:
  ``recsys_kit.nn.precision.chunk_bytes``); the backward pass subtracts one at the targets
  and multiplies: no second product, no second pass over the logits;
* otherwise, row chunks from the start: each chunk is scored, reduced to its log-sum-exp and
  dropped, and the backward pass recomputes the chunk's logits and turns them straight into
  gradients; one extra matrix product buys a footprint bounded by the budget.

On CUDA under bf16, with the ``gpu`` extra installed, a fused kernel computes the same loss
without writing the logits to memory at all (``recsys_kit.nn.heads.fused_kernel``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch

from recsys_kit.nn.heads.fused_kernel import fused_dot_cross_entropy, fused_kernel_usable
from recsys_kit.nn.precision import chunk_bytes, compute_dtype, memory_budget

#: Bytes per logit of a float32 chunk at its peak: the float32 copy of the product (scores,
#: then probabilities, in place), the product itself and the compute-dtype gradient.
BYTES_PER_LOGIT = 10
#: Fewest rows per chunk when logits are recomputed: each chunk streams the whole item table
#: through a matrix product, which thinner chunks would spend their time on.
MIN_RECOMPUTE_ROWS = 32

Kernel = Literal["auto", "torch"]


def rows_per_chunk(
    n_items: int, device: torch.device, budget: int | None = None, min_rows: int = 1
) -> int:
    """Rows of logits over ``n_items`` columns that one chunk may hold: within ``budget`` bytes
    (default: ``device``'s memory budget) and, on a CPU, within the cache (``chunk_bytes``),
    though not fewer than ``min_rows`` while the budget allows them."""
    budget = memory_budget(device) if budget is None else budget
    by_budget = budget // (BYTES_PER_LOGIT * max(n_items, 1))
    rows = by_budget
    cache = chunk_bytes(device)
    if cache is not None:
        rows = min(rows, cache // (4 * max(n_items, 1)))
    return max(1, rows, min(min_rows, by_budget))


def _chunks(n_rows: int, chunk: int) -> Iterator[slice]:
    return (slice(start, start + chunk) for start in range(0, n_rows, chunk))


class _KeptLogits(torch.autograd.Function):
    """One product, kept: the forward pass turns it into probabilities in place, a float32 row
    chunk at a time; the backward pass only subtracts one at the targets (exactly: their
    probabilities are kept in float32) and multiplies."""

    @staticmethod
    def forward(ctx, states, items, targets, dtype, chunk):
        s, w = states.to(dtype), items.to(dtype)
        probs = s @ w.T
        target_log_probs = torch.empty(len(states), dtype=torch.float32, device=states.device)
        for rows in _chunks(len(probs), chunk):
            logits = probs[rows].float()
            softmax = torch.softmax(logits, dim=1)
            # log p_t = x_t - logsumexp(x), and logsumexp(x) = max(x) - log(max(p)): the
            # softmax's one pass of exponentials gives both (max(p) >= 1/V never underflows).
            target_log_probs[rows] = (
                logits.gather(1, targets[rows, None]) - logits.amax(1, keepdim=True)
                + softmax.amax(1, keepdim=True).log()).squeeze(1)
            probs[rows] = softmax
        ctx.save_for_backward(s, w, targets, probs, target_log_probs)
        ctx.dtypes = states.dtype, items.dtype
        return -target_log_probs.mean()

    @staticmethod
    def backward(ctx, grad_out):
        s, w, targets, grad, target_log_probs = ctx.saved_tensors
        # d loss / d logits = softmax - one-hot; the probabilities become it in place.
        rows = torch.arange(len(grad), device=grad.device)
        grad[rows, targets] = (target_log_probs.exp() - 1.0).to(grad.dtype)
        scale = grad_out.float() / len(grad)
        states_dtype, items_dtype = ctx.dtypes
        grad_states = ((grad @ w).float() * scale).to(states_dtype)
        # (s.T @ grad).T, not grad.T @ s: the same product, a third faster on a CPU (oneDNN
        # reads the big operand in its stored order).
        grad_items = ((s.T @ grad).T.float() * scale).to(items_dtype)
        return grad_states, grad_items, None, None, None


class _ChunkedDotCrossEntropy(torch.autograd.Function):
    """Row chunks; the backward pass recomputes each chunk's logits."""

    @staticmethod
    def forward(ctx, states, items, targets, dtype, chunk):
        s, w = states.to(dtype), items.to(dtype)
        lse = torch.empty(len(states), dtype=torch.float32, device=states.device)
        picked = torch.empty_like(lse)
        for rows in _chunks(len(states), chunk):
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
        for rows in _chunks(len(states), chunk):
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
    the autocast dtype when autocast is on, the softmax always in float32. ``max_rows`` forces
    row chunks of that size (default: the memory budget decides); ``kernel="auto"`` takes the
    fused kernel where it is usable, ``"torch"`` never does.
    """
    device = states.device
    dtype = compute_dtype(device, states.dtype)
    if kernel == "auto" and fused_kernel_usable(device, dtype):
        return fused_dot_cross_entropy(states, items, targets, dtype)
    half = memory_budget(device) // 2
    kept_bytes = len(states) * len(items) * dtype.itemsize
    with torch.autocast(device.type, enabled=False):
        if max_rows is None and kept_bytes <= half:
            rows = rows_per_chunk(len(items), device, half)
            return _KeptLogits.apply(states, items, targets, dtype, rows)
        rows = max_rows or rows_per_chunk(len(items), device, half, MIN_RECOMPUTE_ROWS)
        return _ChunkedDotCrossEntropy.apply(states, items, targets, dtype, rows)
