"""A torchrun worker for tests: `recsys-kit` with one more plugin, whose ``before_epoch``
raises on rank 1 (a deliberate failure of one rank, the others healthy)."""

from __future__ import annotations

import recsys_kit.plugins
from recsys_kit import cli
from recsys_kit.hookspecs import hookimpl

MESSAGE = "deliberate failure of rank 1 (test plugin)"


class FailOnRankOne:
    """Raises in ``before_epoch`` on rank 1 only."""

    @hookimpl
    def before_epoch(self, run, epoch: int) -> None:
        """Fail on rank 1 as training starts."""
        if run.ranks.rank == 1:
            raise RuntimeError(MESSAGE)


def make_plugins_with_failure(**kwargs):
    """The installed plugins and the failing one."""
    return make_plugins(**kwargs, extra=[FailOnRankOne()])


make_plugins = recsys_kit.plugins.make_plugins
recsys_kit.plugins.make_plugins = make_plugins_with_failure

if __name__ == "__main__":
    cli.main()
