"""One process against several (torchrun, DDP) and train.compile off against on: test
metrics, per-epoch loss, seconds per epoch and wall time, printed (never asserted).

    python benchmarks/distributed_benchmarks.py ddp              # tiny + ML-100K, 1 vs 2 ranks
    python benchmarks/distributed_benchmarks.py compile          # tiny, compile off vs on (CPU)
    python benchmarks/distributed_benchmarks.py ddp --nproc 4 --epochs 5

Every run is a real `recsys-kit run` process (with `--nproc N` for the ranks) on the CPU;
dropout is off so that one process and N ranks train the same steps. ML-100K is read from
$RECSYS_KIT_DATA (default ../shared/data) and skipped when absent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "distributed"


def tiny_recipe(out_dir: Path, epochs: int, *overrides: str) -> dict:
    """The test suite's tiny synthetic recipe, without dropout."""
    from recsys_kit.testing import tiny

    return tiny(out_dir, "model.encoders.user.params.dropout=0", f"train.epochs={epochs}",
                f"train.patience={epochs}", *overrides)


def ml100k_recipe(out_dir: Path, epochs: int, *overrides: str) -> dict | None:
    """The shipped ML-100K SASRec recipe, short and without dropout (None without the data)."""
    from recsys_kit.recipe.yaml_lines import apply_override, read_yaml

    data = Path(os.environ.get("RECSYS_KIT_DATA", ROOT / ".." / "shared" / "data"))
    if not (data / "ml-100k").is_dir():
        return None
    recipe, _ = read_yaml(ROOT / "recipes" / "ml-100k-sasrec.yaml")
    for item in ("model.encoders.user.params.dropout=0", f"train.epochs={epochs}",
                 f"train.patience={epochs}", "train.max_minutes=null", "baselines=[]",
                 "device=cpu", f"output.dir={out_dir}", *overrides):
        apply_override(recipe, item)
    return recipe


def run(recipe: dict, name: str, nproc: int | None) -> dict[str, object]:
    """Run the recipe in a fresh process; its test metrics, losses and timings."""
    from recsys_kit.store import ResultStore

    path = OUT / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    command = [sys.executable, "-m", "recsys_kit", "run", str(path)]
    if nproc:
        command[4:4] = ["--nproc", str(nproc)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    if done.returncode:
        return {"error": done.stderr[-1500:]}
    _, rows = ResultStore.in_dir(recipe["output"]["dir"]).query(
        "SELECT split, epoch, metric || coalesce('@' || k, ''), value FROM metrics "
        "ORDER BY epoch")
    test = {m: v for s, _, m, v in rows if s == "test"}
    losses = [v for s, _, m, v in rows if s == "train" and m == "loss"]
    epochs = [v for s, _, m, v in rows if s == "train" and m == "epoch_seconds"]
    return {"wall": wall, "ndcg@10": test.get("ndcg@10"), "hr@10": test.get("hr@10"),
            "loss": losses[-1] if losses else None, "first_epoch_s": epochs[0] if epochs else None,
            "later_epoch_s": (sum(epochs[1:]) / len(epochs[1:])) if epochs[1:] else None}


def _cell(value: object) -> str:
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def print_table(rows: list[tuple[str, dict[str, object]]]) -> None:
    """One line per run."""
    keys = ("ndcg@10", "hr@10", "loss", "first_epoch_s", "later_epoch_s", "wall")
    print(f"{'run':<34}" + "".join(f"{k:>15}" for k in keys))
    for name, figures in rows:
        if "error" in figures:
            print(f"{name:<34} failed: {figures['error']}")
            continue
        print(f"{name:<34}" + "".join(f"{_cell(figures[k]):>15}" for k in keys))


def main() -> None:
    """Run the comparisons named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["ddp", "compile"], nargs="+")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows: list[tuple[str, dict[str, object]]] = []
    if "ddp" in args.what:
        for data, make in (("tiny", tiny_recipe), ("ml-100k", ml100k_recipe)):
            for nproc in (None, args.nproc):
                label = f"{data} {'1 process' if nproc is None else f'{nproc} ranks (gloo)'}"
                recipe = make(OUT / f"{stamp}-{data}-{nproc or 1}", args.epochs)
                if recipe is None:
                    print(f"{label}: skipped (no ML-100K data)")
                    continue
                rows.append((label, run(recipe, f"{data}-{nproc or 1}", nproc)))
    if "compile" in args.what:
        for flag in ("false", "true"):
            recipe = tiny_recipe(OUT / f"{stamp}-compile-{flag}", args.epochs,
                                 f"train.compile={flag}", "data.ingest.params.n_users=2000")
            rows.append((f"tiny 2000 users, compile {flag}", run(recipe, f"compile-{flag}", None)))
    print_table(rows)
    print("(CPU; seconds are wall-clock on this machine: re-measure on a quiet one)")


if __name__ == "__main__":
    main()
