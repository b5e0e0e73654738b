"""Where a sweep's trial processes run: how many at once, and each one's environment.

CPU: at most one process per core, each with ``cores // processes`` threads. CUDA: one
process per GPU (``CUDA_VISIBLE_DEVICES``), each with its share of the cores' threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    """One place a trial process runs: its environment and, on a GPU, its device."""

    index: int
    threads: int
    env: dict[str, str] = field(default_factory=dict)
    device: str | None = None

    def describe(self) -> str:
        """``cpu, 2 threads`` or ``GPU 1, 8 threads``."""
        where = f"GPU {self.env['CUDA_VISIBLE_DEVICES']}" if self.device else "cpu"
        return f"{where}, {self.threads} thread{'s' if self.threads != 1 else ''}"


def cpu_cores() -> int:
    """Cores this process may use (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cuda_devices(recipe_device: str) -> int:
    """GPUs a recipe with ``device: recipe_device`` would use one per process (0 for none;
    a recipe that names one GPU, ``cuda:N``, keeps it: no GPU is handed out)."""
    if recipe_device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def make_slots(parallel: int, recipe_device: str) -> tuple[list[Slot], str | None]:
    """At most ``parallel`` slots the machine allows, and a note when fewer were made."""
    cores = cpu_cores()
    gpus = cuda_devices(recipe_device)
    limit, unit = (gpus, "GPU") if gpus else (cores, "CPU core")
    count = max(1, min(parallel, limit))
    note = None
    if count < parallel:
        note = (f"--parallel {parallel} asks for more processes than this machine has "
                f"{unit}s ({limit}): running {count} at a time.")
    threads = max(1, cores // count)
    slots = []
    for i in range(count):
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i)
        slots.append(Slot(i, threads, env, "cuda" if gpus else None))
    return slots, note
