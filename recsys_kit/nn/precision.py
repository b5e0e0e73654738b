"""The one place that decides the compute precision (bf16 autocast or fp32) for a device."""

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
