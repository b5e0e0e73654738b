"""Scaling curve: seconds per epoch, ranking time and peak memory as the catalogue grows
(10k, 100k, 1M items) and with 1 and 2 processes, printed (never asserted).

    python benchmarks/scaling_curve.py                          # 10k, 100k, 1M items x 1, 2
    python benchmarks/scaling_curve.py --items 10000 100000 --nproc 1 2 4
    python benchmarks/scaling_curve.py --loss cross_entropy --items 10000 100000
    python benchmarks/scaling_curve.py --set device=cuda        # on a GPU machine

Every point is a real `recsys-kit run` process (`--nproc N` for N ranks: Gloo on a CPU, NCCL on
GPUs) of recipes/synthetic-200k-sasrec.yaml with the generator's catalogue set to the point's
size and everything else held fixed: the same users (`--users`), sequences, model, loss and one
epoch. So the growth is the catalogue's cost alone. The model's catalogue is the items the
users touch, which the table prints next to the generator's size.

Per point: items in the vocabulary, seconds for the epoch, seconds to rank every user over the
whole catalogue (validation), wall time of the command (start-up, data stages, the epoch,
validation, test), the largest process's peak RSS (getrusage), and the peak of all processes'
RSS together (sampled every 0.1 s from /proc); then each point's ratio to the smallest one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "scaling"
RECIPE = ROOT / "recipes" / "synthetic-200k-sasrec.yaml"
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Bytes of RSS of ``root`` and every process below it (from /proc, Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:  # the process ended meanwhile
            continue
        pid, parent = int(entry.name), int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(statm[1]) * PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def recipe_for(items: int, users: int, loss: str, out_dir: Path, extra: list[str]) -> Path:
    """The synthetic recipe at one catalogue size, for one epoch, written under ``out_dir``."""
    from recsys_kit.recipe.yaml_lines import apply_override, read_yaml

    recipe, _ = read_yaml(RECIPE)
    for item in (f"data.ingest.params.n_items={items}", f"data.ingest.params.n_users={users}",
                 f"model.scorer.params.loss={loss}", "train.epochs=1", "train.patience=1",
                 "train.max_minutes=null", "baselines=[]", "device=cpu",
                 f"output.dir={out_dir}", *extra):
        apply_override(recipe, item)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def measure(recipe: Path, nproc: int) -> dict[str, object]:
    """Run the recipe (``nproc`` ranks when > 1) in a fresh process; its figures."""
    command = [sys.executable, "-m", "recsys_kit", "run", str(recipe)]
    if nproc > 1:
        command[4:4] = ["--nproc", str(nproc)]
    peak, done = [0], threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode:
        return {"error": output[-1500:]}
    vocabulary = next((line.split("item_ids: ")[1].split(" items")[0].replace(",", "")
                       for line in output.splitlines() if "tokenize item_ids: " in line
                       and " items, " in line), None)
    from recsys_kit.store import ResultStore

    out_dir = recipe.parent
    _, rows = ResultStore.in_dir(out_dir).query(
        "SELECT metric, value FROM metrics WHERE split = 'train' AND epoch = 1")
    train = dict(rows)
    return {"items_seen": int(vocabulary) if vocabulary else None,
            "epoch_s": train.get("epoch_seconds"), "rank_all_s": train.get("eval_seconds"),
            "wall_s": wall, "largest_process_gib": largest / 2**30,
            "all_processes_gib": peak[0] / 2**30}


def one(args: argparse.Namespace) -> None:
    """Measure one point in this (fresh) process, so getrusage sees only its run."""
    out_dir = OUT / f"{args.stamp}-{args.loss}-{args.one_items}-{args.one_nproc}"
    recipe = recipe_for(args.one_items, args.users, args.loss, out_dir, args.set)
    print("RESULT " + json.dumps(measure(recipe, args.one_nproc)), flush=True)


def main() -> None:
    """Measure every (catalogue, processes) point, each in its own process; print a table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--loss", default="sampled_softmax")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe override for every point")
    parser.add_argument("--one-items", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one-nproc", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stamp", default=time.strftime("%Y%m%d-%H%M%S"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_items:
        one(args)
        return
    rows = []
    for items in args.items:
        for nproc in args.nproc:
            command = [sys.executable, __file__, "--one-items", str(items), "--one-nproc",
                       str(nproc), "--users", str(args.users), "--loss", args.loss,
                       "--stamp", args.stamp, *(f"--set={s}" for s in args.set)]
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), "")
            figures = json.loads(line[len("RESULT "):]) if line else {"error": done.stdout[-800:]}
            rows.append((items, nproc, figures))
            print(json.dumps({"items": items, "nproc": nproc, **figures}), flush=True)
    print_table(rows, args)


def print_table(rows: list[tuple[int, int, dict]], args: argparse.Namespace) -> None:
    """The points, then each one's growth against the smallest catalogue at its process count."""
    keys = ("items_seen", "epoch_s", "rank_all_s", "wall_s", "largest_process_gib",
            "all_processes_gib")
    print(f"\nloss {args.loss}, {args.users:,} users, 1 epoch")
    print("| catalogue | processes | " + " | ".join(keys) + " | epoch_s vs smallest |")
    print("|" + "---|" * (len(keys) + 3))
    smallest: dict[int, float] = {}
    for items, nproc, figures in rows:
        if "error" in figures:
            print(f"| {items:,} | {nproc} | failed: {figures['error'][-300:]!r} |")
            continue
        base = smallest.setdefault(nproc, figures["epoch_s"])
        cells = [f"{figures[k]:,.2f}" if isinstance(figures[k], float) else f"{figures[k]:,}"
                 for k in keys]
        print(f"| {items:,} | {nproc} | " + " | ".join(cells)
              + f" | {figures['epoch_s'] / base:.2f}x |")


if __name__ == "__main__":
    main()
