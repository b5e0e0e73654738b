"""Wall time of one sweep run serially and in parallel processes: a table (never asserted).

    python benchmarks/sweep_parallel.py                         # ML-100K, 8 trials, P = 1, 2
    python benchmarks/sweep_parallel.py --parallel 1 2 4 --epochs 3

Each setting runs `recsys-kit sweep` in a subprocess, into a fresh output folder (so each
pays for its own data preparation, as a first sweep does), over the same grid of 8 trials
(4 learning rates x 2 dropouts) with a short budget per trial. The machine's load during the
run is printed too: on a shared machine the figures are provisional.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--grid", "train.lr=1e-3,2e-3,3e-3,5e-3",
        "--grid", "model.encoders.user.params.dropout=0.1,0.3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "ml-100k-sasrec.yaml"))
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "RECSYS_KIT_DATA": os.environ.get(
        "RECSYS_KIT_DATA", str(ROOT.parent / "shared" / "data"))}
    rows = []
    for parallel in args.parallel:
        with tempfile.TemporaryDirectory() as folder:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "recsys_kit", "sweep", args.recipe, *GRID,
                 "--parallel", str(parallel), "--set", f"train.epochs={args.epochs}",
                 "--set", "model.encoders.user.params.max_len=50",
                 "--set", f"output.dir={folder}/runs"],
                capture_output=True, text=True, env=env, cwd=ROOT)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"--parallel {parallel} failed:\n{done.stderr}\n{done.stdout}")
            rows.append((parallel, seconds, load, os.getloadavg()[0]))
    base = rows[0][1]
    print(f"sweep of 8 trials, {args.epochs} epochs each, {Path(args.recipe).name}, "
          f"{os.cpu_count()} CPUs")
    print("| --parallel | wall s | speed-up | load before | load after |")
    print("|---|---|---|---|---|")
    for parallel, seconds, before, after in rows:
        print(f"| {parallel} | {seconds:.1f} | {base / seconds:.2f}x | {before:.1f} | "
              f"{after:.1f} |")


if __name__ == "__main__":
    main()
