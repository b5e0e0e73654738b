"""Command-line output reads well: at 80 columns in a terminal, unwrapped in files and pipes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from recsys_kit.cli_output import CliConsole, print_plugins
from recsys_kit.plugins import make_plugins

LONG = "word " * 60


def test_plugins_text_reads_at_80_columns() -> None:
    plugins = make_plugins()
    console = Console(width=80, record=True, file=io.StringIO())
    print_plugins(console, plugins, "text")
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    by_start = {line.split()[0]: line for line in lines if line.startswith("  ")}
    for spec in plugins.registry:
        assert spec.name in by_start, spec.name
        assert spec.description.split()[0] in by_start[spec.name]  # description on its line
    assert len(lines) < 2.5 * len(plugins.registry) + 30  # was ~100 lines for 22 stages
    assert "(recsys-kit-gru4rec " in " ".join(text.split())  # third parties say where from


def test_plugins_json_lists_every_stage() -> None:
    plugins = make_plugins()
    buffer = io.StringIO()
    print_plugins(Console(file=buffer), plugins, "json")
    data = json.loads(buffer.getvalue())
    assert {s["name"] for s in data["stages"]} == {s.name for s in plugins.registry}
    assert next(s for s in data["stages"] if s["name"] == "popularity")["direct"] is True


def test_a_file_gets_unwrapped_lines_and_a_terminal_wrapped_ones() -> None:
    to_file = CliConsole(file=io.StringIO())
    to_file.print(LONG.strip())
    assert to_file.file.getvalue().strip() == LONG.strip()
    to_file.rule("section")
    assert len(to_file.file.getvalue().splitlines()[-1]) == 80
    to_terminal = CliConsole(file=io.StringIO(), force_terminal=True, width=80)
    to_terminal.print(LONG.strip())
    assert max(len(line) for line in to_terminal.file.getvalue().splitlines()) <= 80


def test_piped_plugins_keep_each_description_on_one_line() -> None:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "recsys_kit", "plugins"], capture_output=True,
                         text=True, env=env, check=True).stdout
    sasrec = next(line for line in out.splitlines() if line.strip().startswith("sasrec "))
    assert sasrec.split(None, 1)[1] == "SASRec: causal transformer, every position trained at once."
    assert all("\x1b" not in line for line in out.splitlines())


def test_a_stop_message_with_brackets_is_printed_as_text(capsys) -> None:
    from types import SimpleNamespace

    from recsys_kit import cli
    from recsys_kit.runner.distributed import RankVanished

    seen = RuntimeError("[/__w/pytorch/third_party/gloo/pair.cc:537] Connection reset by peer")
    cli._say_stopped(SimpleNamespace(run_id="R1", error=RankVanished(seen)),
                     Path("out"))
    printed = " ".join(capsys.readouterr().err.split())
    assert "[/__w/pytorch/third_party/gloo/pair.cc:537]" in printed  # was a MarkupError
    assert "--resume R1 --results out/results.duckdb" in printed
