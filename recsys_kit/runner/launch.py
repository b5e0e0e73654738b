"""``recsys-kit run --nproc N``: start torchrun on this machine with N processes running the
same command, and wait for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recsys_kit.errors import RecsysKitError


def torchrun_command(nproc: int, recipe: Path | None, overrides: list[str], *,
                     resume: str | None = None, debug: bool = False) -> list[str]:
    """The torchrun command line: one node (``--standalone`` picks a free local port), N
    processes, each ``python -m recsys_kit run`` with the same arguments."""
    if resume is not None:
        raise RecsysKitError(
            f"--resume runs in one process: drop --nproc (`recsys-kit run --resume {resume}`); "
            "the checkpoints of a run trained with several processes load the same.")
    assert recipe is not None
    args = ["--debug"] if debug else []
    args += ["run", str(recipe)]
    for item in overrides:
        args += ["--set", item]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "recsys_kit", *args]


def launch(nproc: int, recipe: Path | None, overrides: list[str], *,
           resume: str | None = None, debug: bool = False) -> int:
    """Run torchrun and return its exit status. Ctrl-C reaches the workers too (they share
    the terminal): this process keeps waiting while they stop cleanly and mark the run."""
    command = torchrun_command(nproc, recipe, overrides, resume=resume, debug=debug)
    with subprocess.Popen(command) as proc:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue
