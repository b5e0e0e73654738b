"""Run `recsys-kit` with one more plugin registered beside the installed ones: what the
torchrun workers of the tests run on every rank."""

from __future__ import annotations

import recsys_kit.plugins
from recsys_kit import cli


def run_with(plugin: object) -> None:
    """The command line of this process, with ``plugin`` loaded as the others are."""
    installed = recsys_kit.plugins.make_plugins

    def make_plugins(**kwargs):
        return installed(**kwargs, extra=[plugin])

    recsys_kit.plugins.make_plugins = make_plugins
    cli.main()
