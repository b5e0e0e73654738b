"""``recsys-kit run --nproc N``: check the recipe, then start N processes on this machine with
PyTorch's elastic launcher (what ``torchrun --standalone`` runs), each running the same
command, and wait for them.

The launcher runs in this process rather than as a ``torchrun`` subprocess so that a stop or a
failure ends as one paragraph and the exit status of a one-process run: the ranks say what
happened (rank 0 for the run, see ``recsys_kit.cli``), and torchrun's own traceback and banner
are left out (``--debug`` keeps them).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from pathlib import Path

from recsys_kit.errors import RecsysKitError
from recsys_kit.store.results import DEFAULT_RESULTS, resume_command

#: The launcher's loggers: their warnings and failure reports repeat what the ranks say.
LAUNCHER_LOGGERS = ("torch.distributed.elastic", "torch.distributed.launcher")


def worker_args(recipe: Path, overrides: list[str], *, debug: bool = False) -> list[str]:
    """What each rank runs: ``python -m recsys_kit [--debug] run RECIPE --set ...``."""
    args = ["-m", "recsys_kit", *(["--debug"] if debug else []), "run", str(recipe)]
    for item in overrides:
        args += ["--set", item]
    return args


def launch(nproc: int, recipe: Path | None, overrides: list[str], *,
           resume: str | None = None, results: Path = DEFAULT_RESULTS,
           debug: bool = False) -> int:
    """Check the recipe, run ``nproc`` ranks on this machine and return the exit status: 0,
    rank 0's status (1 for a failed run, 130 after Ctrl-C), or another rank's when rank 0's
    is unknown. Ctrl-C reaches the ranks too (they share the terminal) and they stop
    cleanly and mark the run."""
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe

    if resume is not None:
        raise RecsysKitError(
            f"--resume runs in one process: drop --nproc (`{resume_command(resume, results)}`); "
            "the checkpoints of a run trained with several processes load the same.")
    assert recipe is not None
    loaded = load_recipe(recipe, make_plugins().registry, overrides)  # a bad recipe stops here
    warning = oversubscribed(nproc, loaded.recipe.device)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if not debug:  # torch gives each of its loggers a level of its own: set every one
        for name in [*LAUNCHER_LOGGERS, *logging.root.manager.loggerDict]:
            if name.startswith(LAUNCHER_LOGGERS):
                logging.getLogger(name).setLevel(logging.CRITICAL)
    if nproc > 1:  # as torchrun does: N processes must not each start a thread per core
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"recsys-kit-{uuid.uuid4()}",
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, sys.executable)(*worker_args(recipe, overrides, debug=debug))
    except ChildFailedError as exc:
        codes = {rank: failure.exitcode for rank, failure in exc.failures.items()}
        for rank, code in sorted(codes.items()):
            if code < 0:  # it could not say so itself
                print(f"rank {rank} of {nproc} was killed by {signal_name(-code)}",
                      file=sys.stderr)
        return failure_status(codes)
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 0


def oversubscribed(nproc: int, device: str) -> str | None:
    """What to say when ``nproc`` CPU ranks outnumber the cores this process may use (GPU
    ranks are checked against the GPUs by each rank, see ``distributed.start``)."""
    import torch

    if device != "cpu" and not (device == "auto" and not torch.cuda.is_available()):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    if nproc <= cores:
        return None
    return (f"--nproc {nproc} starts {nproc} training processes on {cores} CPU cores: they "
            f"take turns on the cores, so the run is slower than with --nproc {cores}.")


def failure_status(exit_codes: dict[int, int]) -> int:
    """The launcher's exit status from the ranks' (negative: killed by that signal), as a shell
    reports it (128 + signal): rank 0's when it failed, else the first failing rank's.

    A rank killed by a signal it could not handle (SIGKILL, out of memory) is the cause when
    rank 0 merely stopped (128 + n): rank 0 learns of it as a broken collective or the
    launcher's SIGTERM, whichever comes first, and its own status would depend on that race."""
    if not exit_codes:
        return 1
    killed = [code for _, code in sorted(exit_codes.items()) if code < 0]
    # A rank that died of the launcher's SIGTERM (or Ctrl-C) was stopped too; another
    # signal (SIGKILL, SIGSEGV) is the cause.
    killed.sort(key=lambda code: -code in (signal.SIGTERM, signal.SIGINT))
    code = exit_codes.get(0, exit_codes[min(exit_codes)])
    if killed and (code < 0 or code > 128):
        code = killed[0]
    return 128 - code if code < 0 else code


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; the number itself for one this platform does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
