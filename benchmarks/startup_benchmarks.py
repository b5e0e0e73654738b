"""Start-up: seconds from launching `recsys-kit run` to its first data stage, printed (never
asserted).

    python benchmarks/startup_benchmarks.py                     # quickstart recipe, 5 launches
    python benchmarks/startup_benchmarks.py recipes/ml-1m-sasrec.yaml --repeat=10

Each launch is a fresh interpreter running the CLI exactly as a user would, plus one hook that
prints the wall-clock time when the ingest stage begins; the launch is then stopped. Prints
each launch's seconds, the median, and the heaviest imports up to that point (`python -X
importtime`, cumulative microseconds). Run it twice and keep the second figure: the first
launch after an install also fills the disk cache ("warm machine").
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Run in the child: the CLI's own code path, with a hook stamping the first data stage.
CHILD = """
import resource, sys, time
from recsys_kit import hookspecs, plugins

class Stamp:
    @hookspecs.hookimpl
    def before_stage(self, run, family, name):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"STAMP {time.time()!r} {usage.ru_utime + usage.ru_stime!r}", flush=True)
        time.sleep(3600)

original = plugins.make_plugins
plugins.make_plugins = lambda **kw: original(**{**kw, "extra": [*kw.get("extra", ()), Stamp()]})
from recsys_kit.cli import main
sys.argv = ["recsys-kit", "run", *sys.argv[1:]]
main()
"""


def launch(recipe: str, out_dir: str, importtime: bool = False) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds from process start to the first data stage, and the child's
    stderr. CPU seconds barely change when other processes share the machine: on a quiet
    machine the wall-clock time comes close to them."""
    flags = ["-X", "importtime"] if importtime else []
    with tempfile.TemporaryFile("w+") as errors:  # a file: -X importtime would fill a pipe
        started = time.time()
        child = subprocess.Popen(
            [sys.executable, *flags, "-c", CHILD, recipe, "--set", f"output.dir={out_dir}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
        assert child.stdout is not None
        stamp = None
        for line in child.stdout:
            if line.startswith("STAMP "):
                stamp, cpu = map(float, line.split()[1:])
                break
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        errors.seek(0)
        stderr = errors.read()
    if stamp is None:
        raise RuntimeError(f"the run never reached a data stage:\n{stderr[-2000:]}")
    return stamp - started, cpu, stderr


def heaviest_imports(stderr: str, top: int = 12) -> list[tuple[int, str]]:
    """Top-level-ish imports by cumulative microseconds, from `-X importtime` output."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) <= 3:  # the importing statement's own modules, not their deps
            rows.append((int(m.group(1)), m.group(3)))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str]) -> None:
    """Launch the run ``--repeat`` times; print seconds to the first data stage."""
    recipe = next((a for a in argv if not a.startswith("--")), "recipes/quickstart.yaml")
    repeat = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--repeat=")), 5)
    with tempfile.TemporaryDirectory() as out_dir:
        launches = [launch(recipe, out_dir)[:2] for _ in range(repeat)]
        stderr = launch(recipe, out_dir, importtime=True)[2]
    for label, values in zip(("wall-clock", "CPU"), zip(*launches, strict=True), strict=True):
        print(f"{recipe}: {label} seconds to the first data stage: "
              + ", ".join(f"{v:.2f}" for v in values)
              + f"  (median {statistics.median(values):.2f})")
    print("heaviest imports before it (cumulative ms):")
    for micros, module in heaviest_imports(stderr):
        print(f"  {micros / 1000:8.1f}  {module}")


if __name__ == "__main__":
    main(sys.argv[1:])
