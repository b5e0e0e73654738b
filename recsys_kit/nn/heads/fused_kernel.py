"""The fused linear-cross-entropy kernel: cut-cross-entropy (Wijmans et al., 2024), the
``gpu`` extra. It computes ``cross_entropy(states @ items.T, targets)`` and its gradients
tile by tile in on-chip memory, so the (positions x items) logits never reach device memory.
It runs on CUDA with bf16 or fp16 inputs; everything else uses the torch implementation in
``recsys_kit.nn.heads.full_softmax``.

The kernel's gradient filter is off (``filter_eps=None``). It skips every tile whose
probabilities all lie below bf16's precision (2.4e-4), which suits a language model's
vocabulary but not a catalogue: over 200,000 items the softmax starts near 1/V = 5e-6, so
nearly every tile without a target would be skipped, and with it the push-down of every item
that is not a target in the batch. Without the filter the gradients are the full softmax's;
the kernel also skips compiling the vocabulary sort the filter needs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import cache

import torch

#: Input dtypes the kernel's backward pass accepts.
KERNEL_DTYPES = (torch.bfloat16, torch.float16)


@cache
def kernel_function() -> Callable[..., torch.Tensor] | None:
    """cut-cross-entropy's ``linear_cross_entropy``, or None when it (or Triton) is missing or
    does not import (with a warning: then the torch implementation computes the loss)."""
    try:
        from cut_cross_entropy import linear_cross_entropy
    except ImportError:
        return None
    except Exception as exc:  # e.g. a Triton its release does not know: fall back, say why
        warnings.warn(f"cut-cross-entropy is installed but does not import ({exc!r}); the "
                      "full softmax uses the torch implementation instead.", stacklevel=2)
        return None
    return linear_cross_entropy


def fused_kernel_usable(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the fused kernel may compute the loss on ``device`` in ``dtype``.

    Not while PyTorch is held to deterministic algorithms (``train.deterministic``, the
    default): the kernel accumulates gradients across tiles in whatever order they finish, so
    two runs with the same seed would differ in the last bits and then drift apart.
    """
    return (device.type == "cuda" and dtype in KERNEL_DTYPES
            and not torch.are_deterministic_algorithms_enabled()
            and kernel_function() is not None)


def fused_dot_cross_entropy(
    states: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Mean cross-entropy of ``states @ items.T`` (in ``dtype``) against ``targets``."""
    kernel = kernel_function()
    if kernel is None:
        raise RuntimeError("cut-cross-entropy is not installed; check fused_kernel_usable first")
    with torch.autocast(states.device.type, enabled=False):
        return kernel(states.to(dtype).contiguous(), items.to(dtype).contiguous(), targets,
                      reduction="mean", filter_eps=None)
