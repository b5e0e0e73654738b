"""A torchrun worker for tests: `recsys-kit` with one more plugin, whose ``before_epoch``
writes a few draws of the global random stream to ``rank-R.json`` in the run's artifacts."""

from __future__ import annotations

import json

import torch

import recsys_kit.plugins
from recsys_kit import cli
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


def make_plugins_recording(**kwargs):
    """The installed plugins and the recording one."""
    return make_plugins(**kwargs, extra=[RecordDraws()])


make_plugins = recsys_kit.plugins.make_plugins
recsys_kit.plugins.make_plugins = make_plugins_recording

if __name__ == "__main__":
    cli.main()
