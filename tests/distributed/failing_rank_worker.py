"""A torchrun worker for tests: `recsys-kit` with one more plugin, whose ``before_epoch``
raises on rank 1 (a deliberate failure of one rank, the others healthy)."""

from __future__ import annotations

from with_plugin import run_with

from recsys_kit.hookspecs import hookimpl

MESSAGE = "deliberate failure of rank 1 (test plugin)"


class FailOnRankOne:
    """Raises in ``before_epoch`` on rank 1 only."""

    @hookimpl
    def before_epoch(self, run, epoch: int) -> None:
        """Fail on rank 1 as training starts."""
        if run.ranks.rank == 1:
            raise RuntimeError(MESSAGE)


if __name__ == "__main__":
    run_with(FailOnRankOne())
