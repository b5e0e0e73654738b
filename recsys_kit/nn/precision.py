"""Device-dependent choices in one place: compute precision, host-to-device copies."""

from __future__ import annotations

import torch


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (CUDA, AVX512-BF16/AMX CPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """An autocast context: ``auto`` uses bf16 where the device supports it natively."""
    enabled = precision == "bf16" or (precision == "auto" and bf16_supported(device))
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``: through pinned memory, without blocking, on CUDA."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
