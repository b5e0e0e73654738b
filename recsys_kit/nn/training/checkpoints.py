"""Checkpoints in safetensors (never pickle), written atomically.

``best.safetensors`` holds the best weights; ``last.safetensors`` the whole training state
after the latest epoch (weights, optimiser state, random-number state, early-stopping
counters), from which an interrupted or lost run resumes exactly where it was.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

#: File names in a run's artifacts folder: the best weights, and the training state to resume.
BEST, LAST = "best.safetensors", "last.safetensors"
_MODEL, _OPTIM, _RNG = "model.", "optim.", "rng."


@dataclass
class Progress:
    """Where training stands: the epochs done, the best monitored value and its epoch, epochs
    waited without improvement, training seconds spent, and whether training has finished
    (``stopped`` says why: epochs, patience, time budget)."""

    epoch: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    waited: int = 0
    seconds: float = 0.0
    stopped: str | None = None


def save_atomically(tensors: dict[str, torch.Tensor], path: Path,
                    metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` through a temporary file and a rename, flushed to disk:
    a kill at any moment leaves either the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
              metadata=metadata)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's weights (its state dict)."""
    save_atomically(dict(model.state_dict()), path)


def load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    """Load weights written by :func:`save_weights`."""
    model.load_state_dict(load_file(str(path), device=str(device)))


def save_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               progress: Progress, extra: dict[str, str] | None = None) -> None:
    """The whole training state after an epoch; ``extra`` is a collaborator's own state
    (e.g. the privacy accounts), kept in the same file so both always match."""
    tensors = {_MODEL + k: v for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{_OPTIM}{index}.{name}"] = value if torch.is_tensor(value) else (
                torch.tensor(value))
    tensors[_RNG + "cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{_RNG}cuda.{i}"] = rng
    metadata = {"progress": json.dumps(asdict(progress)),
                "param_groups": json.dumps(state["param_groups"]), **(extra or {})}
    save_atomically(tensors, path, metadata)


def load_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               device: torch.device) -> Progress:
    """Restore what :func:`save_state` wrote; return the progress it recorded."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    tensors = load_file(str(path), device="cpu")
    model.load_state_dict({k[len(_MODEL):]: v.to(device) for k, v in tensors.items()
                           if k.startswith(_MODEL)})
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(_OPTIM):
            index, name = key[len(_OPTIM):].split(".", 1)
            per_param.setdefault(int(index), {})[name] = value if name == "step" else (
                value.to(device))
    optimizer.load_state_dict({"state": per_param,
                               "param_groups": json.loads(metadata["param_groups"])})
    torch.set_rng_state(tensors[_RNG + "cpu"])
    restore_cuda_rng({int(k.rsplit(".", 1)[1]): v for k, v in tensors.items()
                      if k.startswith(_RNG + "cuda.")})
    return Progress(**json.loads(metadata["progress"]))


def restore_cuda_rng(states: dict[int, torch.Tensor]) -> None:
    """Give each CUDA device of this machine its saved random state (by device index): a run
    saved where more GPUs were visible resumes on fewer, and one saved on a CPU on a GPU."""
    if not states or not torch.cuda.is_available():
        return
    for index in range(torch.cuda.device_count()):
        if index in states:
            torch.cuda.set_rng_state(states[index], index)


def saved_extra(path: Path) -> dict[str, str]:
    """The ``extra`` entries :func:`save_state` wrote to ``path`` (empty if none)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    return {k: v for k, v in metadata.items() if k not in ("progress", "param_groups")}
