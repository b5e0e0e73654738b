"""Training across processes with torchrun: which process this is, its process group, and the
few collective steps a run needs. The one place that knows about ``torch.distributed``.

``torchrun --nproc-per-node N -m recsys_kit run RECIPE`` starts N processes (ranks) and sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in each one's environment. Every rank runs the
same run from the same seed: the same data and initial weights; each trains on its share of
every global batch and DistributedDataParallel averages the gradients; each ranks its share of
the users and the rankings are gathered, so every rank computes the same metrics. Rank 0 alone
writes the results file and the checkpoints; a rank that fails or is interrupted leaves a note
that rank 0 puts in the run's row.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from recsys_kit.errors import RecsysKitError
from recsys_kit.interrupts import StopRequested
from recsys_kit.ranking import Ranking

T = TypeVar("T")
#: How long a rank waits for the others at a collective step (rank 0 building the data cache
#: of a large dataset while the others wait is the longest).
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of one run.

    ``launched`` is true under torchrun (even with one process): then a process group exists
    once :func:`start` ran, and every method is a collective step that all ranks must reach.
    Outside torchrun they are plain single-process operations.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0: the one that writes results, checkpoints and the console."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether collective steps talk to other processes (a process group is up)."""
        return self.launched and dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        """Wait until every rank got here."""
        if self.active:
            dist.barrier()

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.active:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the ranks (in place on a copy)."""
        if not self.active:
            return value
        total = value.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world_size

    def share(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's share of one global batch of row indices: every ``world_size``-th row
        from its own offset. With one global order, the shares of all ranks are exactly the
        global batch (what one process would train on)."""
        return rows[self.rank::self.world_size] if self.world_size > 1 else rows

    def shard(self, users: np.ndarray) -> np.ndarray:
        """This rank's contiguous slice of ``users`` (gathered back in rank order)."""
        return np.array_split(users, self.world_size)[self.rank] if self.active else users

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers into ``module`` on every rank."""
        if self.active:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``module`` under DistributedDataParallel when launched, else itself.

        The graph is static (the same parameters take part in every step), which lets DDP
        also handle parameters a loss never touches without searching the graph each step.
        Buffers are not sent from rank 0 before each step: every rank builds the same ones
        from the same data (frozen text vectors, sampling probabilities) and none changes
        while training.
        """
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # torch 2.13 renamed the switch (and warns about the old name); older releases lack
        # the new one.
        new_name = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        no_buffer_sync = {"forward_sync_buffers" if new_name else "broadcast_buffers": False}
        return DistributedDataParallel(module, device_ids=ids, static_graph=True,
                                       **no_buffer_sync)


def ranks_from_env(env: dict[str, str] | None = None) -> Ranks:
    """This process's ranks from the variables torchrun sets (one process without them)."""
    env = dict(os.environ) if env is None else env
    if "WORLD_SIZE" not in env:
        return Ranks()
    return Ranks(rank=int(env.get("RANK", "0")), world_size=int(env["WORLD_SIZE"]),
                 local_rank=int(env.get("LOCAL_RANK", "0")), launched=True)


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the run's process group (once per process) and return this rank's device: NCCL
    and ``cuda:LOCAL_RANK`` when the recipe's device is CUDA, Gloo on the CPU otherwise."""
    if not ranks.launched:
        return device
    if device.type == "cuda":
        gpus = torch.cuda.device_count()
        if ranks.local_rank >= gpus:  # NCCL needs a GPU of its own for every rank
            raise RecsysKitError(
                f"This machine runs {ranks.local_rank + 1} or more processes of the run but has "
                f"{gpus} CUDA device(s), and each process needs a GPU of its own. Start at most "
                f"{gpus} per machine (`recsys-kit run --nproc {gpus}` or `torchrun "
                f"--nproc-per-node {gpus}`), or train on the CPU with Gloo (`--set device=cpu`).")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT,
                                device_id=device if device.type == "cuda" else None)
    return device


def stop(ranks: Ranks) -> None:
    """Leave the process group (at the end of the command)."""
    if ranks.active:
        dist.destroy_process_group()


def rank_shared(ranks: Ranks, rank_users: Callable[[np.ndarray], Ranking],
                users: np.ndarray) -> Ranking:
    """Rank ``users`` with each rank ranking its shard; every rank gets the whole ranking, in
    the order of ``users`` (so per-user metrics equal one process's)."""
    if not ranks.active:
        return rank_users(users)
    part = rank_users(ranks.shard(users))
    parts = [p for p in ranks.gather((part.items, part.scores, part.targets)) if len(p[0])]
    if not parts:
        return part
    return Ranking(users=users, items=np.concatenate([p[0] for p in parts]),
                   scores=np.concatenate([p[1] for p in parts]),
                   targets=[t for p in parts for t in p[2]])


#: The results-store methods a run calls to write; ranks other than 0 skip them.
STORE_WRITES = frozenset({
    "migrate", "start_run", "restart_run", "finish_run", "set_data_key", "add_artifact",
    "write_dataset", "log_metrics", "write_recommendations", "write_explanations",
    "heartbeat", "start_sweep", "tag_trial", "finish_sweep",
})


class NotWriting:
    """What ranks other than 0 hold in place of the results store: they compute what rank 0
    writes, and never open the file (DuckDB allows one writer). Reading from it is an error:
    such ranks know only what rank 0 broadcasts."""

    delayed = 0

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name in STORE_WRITES:
            return lambda *args, **kwargs: None
        raise AttributeError(f"rank other than 0 cannot use the results store's {name!r}")


def stop_note(folder: Path, rank: int, status: str) -> Path:
    """Where rank ``rank`` says why it stopped (``status``: failed or interrupted)."""
    return folder / f"rank-{rank}-{status}.txt"


def note_stop(folder: Path, ranks: Ranks, status: str, message: str) -> None:
    """Leave the note saying why this rank stopped, for rank 0 to record in the run (best
    effort: the rank is on its way out)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stop_note(folder, ranks.rank, status).write_text(message, encoding="utf-8")
    except OSError:
        pass


#: What Gloo says when the rank at the other end of a collective is gone.
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe")


def lost_peer(error: BaseException | None) -> bool:
    """Whether ``error`` is a collective step failing because another rank is gone: NCCL's
    and the store's errors are ``DistError``; Gloo raises a RuntimeError naming the peer."""
    if isinstance(error, dist.DistError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _PEER_GONE)


class RankVanished(StopRequested):
    """Rank 0 stopped because another rank ended without leaving a note: killed (SIGKILL, out
    of memory) or crashed. Rank 0 sees a broken collective step or the launcher's SIGTERM.
    The run stops like an interrupted one: its checkpoints are kept and it resumes."""

    def __init__(self, seen: BaseException | None) -> None:
        super().__init__("SIGKILL")
        self.seen = seen

    def describe(self) -> str:
        """What stopped the run, for ``runs.error``."""
        seen = "" if isinstance(self.seen, StopRequested) or self.seen is None else (
            f" (rank 0 saw {type(self.seen).__name__}: {str(self.seen).splitlines()[0][:200]})")
        return ("stopped because another rank ended without a word: killed (SIGKILL, for "
                "example out of memory) or crashed" + seen)


def stops_noted(folder: Path, ranks: Ranks) -> tuple[str, str] | None:
    """What the other ranks noted: ``("failed", one paragraph naming every rank that failed
    and why)``, else ``("interrupted", the signal)``, else None."""
    failed, interrupted = [], []
    for r in range(1, ranks.world_size):
        note = stop_note(folder, r, "failed")
        if note.exists():
            failed.append(f"rank {r} of {ranks.world_size} failed: "
                          f"{note.read_text(encoding='utf-8').strip()}")
        elif stop_note(folder, r, "interrupted").exists():
            interrupted.append(stop_note(folder, r, "interrupted").read_text(encoding="utf-8"))
    if failed:
        return "failed", " ".join(failed)
    if interrupted:
        return "interrupted", interrupted[0].strip()
    return None
