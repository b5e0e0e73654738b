"""Up-front memory check: a model whose training cannot fit the device is refused before
anything is allocated, naming the number and the settings behind it.

The user encoder is built on PyTorch's ``meta`` device (shapes, no storage) to count its
parameters, whatever plugin provides it; item ID tables and the main activations are
estimated from the shape. Training keeps four copies of every parameter (weights, gradients,
two AdamW moments).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.model import ModelShape

#: Bytes per trained parameter: float32 weight, gradient and two AdamW moments.
TRAINED_PARAMETER_BYTES = 16
#: Share of the available memory a run may plan to use.
USABLE_SHARE = 0.9


@dataclass(frozen=True)
class Estimate:
    """Bytes a run's training needs: parameters (with gradients and optimiser state) and
    activations of one batch; ``largest`` names the biggest parameter tensor and its shape."""

    parameters: int
    activations: int
    largest: str

    @property
    def total(self) -> int:
        """Everything together."""
        return self.parameters + self.activations


def gib(n: float) -> str:
    """A byte count in GiB, for messages."""
    return f"{n / 2**30:,.1f} GiB"


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free memory, or the host's available RAM."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _meta_parameters(build, config, shape: ModelShape) -> tuple[int, str] | None:
    """(parameter count, largest tensor) of a model stage built on the meta device, or None
    when the stage cannot be built there (it loads files, computes at construction...)."""
    try:
        with torch.device("meta"):
            module = build(config, shape)
    except Exception:
        return None
    if not isinstance(module, torch.nn.Module):
        return None
    tensors = [(n, p) for n, p in module.named_parameters()] + list(module.named_buffers())
    if not tensors:
        return 0, ""
    name, big = max(tensors, key=lambda t: t[1].numel())
    count = sum(p.numel() for _, p in tensors)
    return count, f"{name} {tuple(big.shape)}"


def estimate(stage, shape: ModelShape, batch_size: int, n_item_tables: int) -> Estimate:
    """Training memory of the user encoder ``stage`` on data of ``shape``."""
    counted = _meta_parameters(stage.spec.build, stage.config, shape)
    params, largest = counted if counted is not None else (0, "")
    table = shape.n_tokens * shape.dim
    if table * n_item_tables > params and table:
        largest = largest or f"item table ({shape.n_tokens}, {shape.dim})"
    params += table * n_item_tables
    config = stage.config
    layers = int(getattr(config, "layers", 1))
    heads = int(getattr(config, "heads", 1))
    ffn = int(getattr(config, "ffn_mult", 1))
    positions = batch_size * shape.max_len
    # Per layer and position: attention in/out (4 x dim), feed-forward (2 x ffn x dim), norms;
    # per layer and batch row: the (heads x len x len) attention weights and mask.
    per_layer = positions * shape.dim * (6 + 2 * ffn) * 4 + (
        batch_size * heads * shape.max_len ** 2 * 5)
    activations = layers * per_layer + positions * shape.dim * 4 * 4
    return Estimate(params * TRAINED_PARAMETER_BYTES, activations, largest)


def check_fits(estimated: Estimate, device: torch.device, settings: str) -> None:
    """Refuse a run whose estimated training memory exceeds what ``device`` has free."""
    free = available_bytes(device)
    if free is None or estimated.total <= free * USABLE_SHARE:
        return
    raise RecsysKitError(
        f"This model needs about {gib(estimated.total)} to train (parameters with gradients "
        f"and optimiser state {gib(estimated.parameters)}, the largest being "
        f"{estimated.largest or 'unknown'}; activations of one batch "
        f"{gib(estimated.activations)}), but {device} has {gib(free)} free. Nothing was "
        f"allocated. Lower {settings}, or run on a device with more memory.")
