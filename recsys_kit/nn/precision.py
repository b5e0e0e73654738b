"""Device-dependent choices in one place: compute precision, host-to-device copies, and how
much memory one temporary (the loss's logits) may take."""

from __future__ import annotations

import os

import torch

#: Share of the device's free memory that one temporary may take: the loss's logits (and their
#: float32 copies) are the biggest tensors a sequential recommender builds, so the full softmax
#: sizes its row chunks to this share of what is free (CUDA) or available (RAM), leaving the
#: rest to activations, optimizer state and other processes.
MEMORY_FRACTION = 0.25
#: RAM assumed available where the system cannot say (neither /proc/meminfo nor sysconf).
FALLBACK_RAM = 4 * 2**30
#: On a CPU, element-wise passes over a chunk of float32 logits run at cache speed only while
#: the chunk fits in the cache: on ML-1M, 1.75 MB chunks took half the time of one 180 MB chunk
#: (benchmarks/loss_benchmarks.py --chunks). GPUs have no such limit worth a kernel launch.
CPU_CHUNK_BYTES = 2 * 2**20
#: Groups of similar length a CPU encodes a batch in, each trimmed to its longest history: a
#: left-padded batch of ML-1M histories is half padding, and attention costs grow with the
#: square of the length. A GPU encodes the batch at once (small kernels would cost more).
CPU_LENGTH_GROUPS = 8
#: Device types whose dropout masks are drawn from uniform numbers: on a CPU, PyTorch's
#: Bernoulli draws took 2.6x as long as uniform ones, 15 % of an ML-1M training step.
UNIFORM_DROPOUT_DEVICES = frozenset({"cpu"})


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


def compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype of matrix products on ``device``: autocast's when it is on, else ``dtype``."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return dtype


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``: through pinned memory, without blocking, on CUDA."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def free_memory(device: torch.device) -> int:
    """Bytes that ``device`` can still hand out: CUDA's free memory plus what PyTorch's caching
    allocator holds unused; for the CPU (and devices sharing host memory) the RAM available."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    return available_ram()


def available_ram() -> int:
    """Bytes of RAM available to new allocations (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no such query here (macOS, Windows)
        return FALLBACK_RAM


def memory_budget(device: torch.device) -> int:
    """Bytes one temporary may take on ``device``: ``MEMORY_FRACTION`` of its free memory."""
    return int(free_memory(device) * MEMORY_FRACTION)


def attention_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype attention runs in on ``device`` for inputs of ``dtype``: float32 on a CPU,
    whose fused attention kernels are slower in bf16 (ML-1M: a training step 7 % faster)."""
    return torch.float32 if device.type == "cpu" else dtype


def length_groups(device: torch.device) -> int:
    """How many groups of similar length a batch of histories is encoded in on ``device``: one
    while ``torch.compile`` traces (``train.compile``), whose graph would break at every group."""
    if device.type != "cpu" or torch.compiler.is_compiling():
        return 1
    return CPU_LENGTH_GROUPS


def chunk_bytes(device: torch.device) -> int | None:
    """Bytes of float32 work one chunk of an element-wise pass should stay under on
    ``device`` to run from the cache (``CPU_CHUNK_BYTES`` on a CPU), or None for no limit."""
    return CPU_CHUNK_BYTES if device.type == "cpu" else None


def uniform_dropout(device: torch.device) -> bool:
    """Whether dropout on ``device`` draws its mask from uniform numbers
    (``recsys_kit.nn.dropout``)."""
    return device.type in UNIFORM_DROPOUT_DEVICES
