"""How the command line writes: a console that wraps only for a terminal, and the layouts of
`recsys-kit plugins`.

Rich wraps at 80 columns when it finds no terminal, so text sent to a pipe or a file was broken
mid-phrase and tables were squeezed. :class:`CliConsole` decides at each write: to a terminal
it wraps at the terminal's width; elsewhere lines are not wrapped and tables take the width
they need (rules stay 80 wide).
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from recsys_kit.errors import RecsysKitError

if TYPE_CHECKING:
    from recsys_kit.plugins import Plugins

#: Line width when writing to a file or pipe: wide enough that nothing wraps.
UNWRAPPED_WIDTH = 4096
#: Width of rules (section lines) outside a terminal.
RULE_WIDTH = 80
#: The distribution of the built-in stages; `recsys-kit plugins` names only the others.
BUILT_IN = "recsys-kit"
PLUGIN_FORMATS = ("text", "table", "json")


class CliConsole(Console):
    """A rich console that wraps at the terminal's width, and not at all elsewhere.

    An explicit ``width`` is kept as given (tests, recordings).
    """

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; outside one, :data:`UNWRAPPED_WIDTH` columns."""
        size = super().size
        if self._width is not None or self.is_terminal:
            return size
        return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    @property
    def soft_wrap(self) -> bool:
        """Whether text is left unwrapped: as asked, and always outside a terminal."""
        return self._soft_wrap or (self._width is None and not self.is_terminal)

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value

    def on_broken_pipe(self) -> None:
        """The reader went away (``| head``, a pager closed): drop what this console writes
        from now on and carry on. Rich would exit with status 1, failing a run that was
        training when its progress stopped being read."""
        self.quiet = True
        discard_output(self.file)

    def rule(self, title: str | Text = "", **kwargs: Any) -> None:
        """A rule across the terminal, or :data:`RULE_WIDTH` wide in a file."""
        if self._width is not None or self.is_terminal:
            super().rule(title, **kwargs)
        else:
            self.print(Rule(title, **kwargs), width=RULE_WIDTH, soft_wrap=False)


def discard_output(stream: Any) -> None:
    """Point ``stream``'s file descriptor at the null device, so that later writes, and
    Python's flush at exit, do not fail on a closed pipe."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _label(spec: Any) -> str:
    """Where a stage comes from, when it is not built in: ``dist version``."""
    if spec.distribution == BUILT_IN:
        return ""
    return f"{spec.distribution or 'unknown'} {spec.version}".strip()


def _stages_text(console: Console, plugins: Plugins) -> None:
    """One block per family: each stage's name, and its description wrapped at full width
    under itself (a hanging indent), so that it reads at 80 columns."""
    specs = list(plugins.registry)
    indent = 2 + max((len(spec.name) for spec in specs), default=0) + 2
    built_in = next((s.version for s in specs if s.distribution == BUILT_IN), "")
    console.print(f"{len(specs)} stages; built-in ones come from {BUILT_IN} {built_in}, others "
                  "name their distribution. `recsys-kit schema` shows each stage's params.",
                  highlight=False)
    family = None
    for spec in specs:
        if spec.family is not family:
            family = spec.family
            console.print(f"\n[bold]{escape(family.value)}[/]", highlight=False)
        origin = _label(spec)
        about = spec.description + (f" ({origin})" if origin else "")
        text = textwrap.fill(about, width=max(console.width, indent + 20),
                             initial_indent=f"  {spec.name}".ljust(indent),
                             subsequent_indent=" " * indent, break_on_hyphens=False)
        console.print(escape(text), highlight=False, soft_wrap=True)


def _stages_table(console: Console, plugins: Plugins) -> None:
    """Every stage as one table row: family, name, distribution, version, description."""
    table = Table()
    for column in ("family", "name", "distribution", "version", "description"):
        table.add_column(column)
    for spec in plugins.registry:
        table.add_row(*(escape(cell) for cell in (spec.family.value, spec.name, spec.distribution,
                                                  spec.version, spec.description)))
    console.print(table)


def _plugins_json(plugins: Plugins) -> str:
    """Stages, loaded plugins, failures and clashes as one JSON document."""
    return json.dumps({
        "stages": [{"family": s.family.value, "name": s.name, "distribution": s.distribution,
                    "version": s.version, "description": s.description, "direct": s.direct}
                   for s in plugins.registry],
        "plugins": [{"plugin": i.name, "distribution": i.distribution, "version": i.version}
                    for i in plugins.list_plugin_distinfo()],
        "failures": [{"plugin": f.name, "distribution": f.distribution, "error": f.error}
                     for f in plugins.failures],
        "clashes": [clash.message() for clash in plugins.clashes],
    }, indent=2)


def print_plugins(console: Console, plugins: Plugins, fmt: str) -> None:
    """`recsys-kit plugins` in format ``fmt``: ``text`` (blocks per family that read at 80
    columns), ``table`` (one wide table) or ``json``."""
    if fmt not in PLUGIN_FORMATS:
        raise RecsysKitError(f"Unknown --format '{fmt}'; use {', '.join(PLUGIN_FORMATS)}.")
    if fmt == "json":
        console.file.write(_plugins_json(plugins) + "\n")
        return
    (_stages_text if fmt == "text" else _stages_table)(console, plugins)
    modules = Table("plugin", "distribution", "version", title="plugins loaded",
                    title_justify="left")
    for info in plugins.list_plugin_distinfo():
        modules.add_row(escape(info.name), escape(info.distribution), escape(info.version))
    console.print()
    console.print(modules)
    for failure in plugins.failures:
        console.print(f"[red]failed[/] {escape(failure.name)} ({escape(failure.distribution)}): "
                      f"{escape(failure.error)}", highlight=False)
    for clash in plugins.clashes:
        console.print(f"[red]clash[/] {escape(clash.message())}", highlight=False)
