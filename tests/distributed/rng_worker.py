"""A torchrun worker for tests: `recsys-kit` with one more plugin, whose ``before_epoch``
writes a few draws of the global random stream to ``rank-R.json`` in the run's artifacts."""

from __future__ import annotations

import json

import torch
from with_plugin import run_with

from recsys_kit.hookspecs import hookimpl


class RecordDraws:
    """Records ``torch.rand(8)`` on each rank as training starts."""

    @hookimpl
    def before_epoch(self, run, epoch: int) -> None:
        """Write this rank's draws for epoch 1."""
        if epoch == 1:
            path = run.artifacts_dir / f"rank-{run.ranks.rank}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(torch.rand(8).tolist()))


if __name__ == "__main__":
    run_with(RecordDraws())
