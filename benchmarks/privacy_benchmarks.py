"""What user-level differential privacy costs: SASRec on ML-1M at ε = ∞, 8, 4, 1.

    python benchmarks/privacy_benchmarks.py                        # every ε, in turn
    python benchmarks/privacy_benchmarks.py --epochs 5 8 1         # an epoch budget, some ε
    python benchmarks/privacy_benchmarks.py --epochs 2 --max-len 50 --jobs 4  # a busy CPU

Each ε runs `recipes/ml-1m-sasrec.yaml` (stable sequences, 3,416 items, max length 200) for the
same fixed number of epochs, in a fresh process, without early stopping (a private run keeps
its last weights; the non-private one keeps its best, which at this budget is the last too),
with δ just below 1/users (δ ≥ 1/users is refused). It prints: ε spent (Opacus's PRV
accountant), the noise multiplier, test NDCG@10 and HR@10, and training seconds per epoch.
`--max-len` shortens the histories (fewer positions per user: a cheaper epoch) and `--jobs`
runs several ε at once (each with one torch thread), for a machine too slow or too shared
for the full recipe; the table says which. Datasets are read from $RECSYS_KIT_DATA
(default ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "recipes/ml-1m-sasrec.yaml"
USERS = 6040  # ML-1M users who train (all of them, with the recipe's filters)
DELTA = 1 / (USERS + 1)
EPSILONS = ["inf", "8", "4", "1"]
DEFAULT_EPOCHS = 5


def run_one(epsilon: str, epochs: int, max_len: int | None, out_dir: Path
            ) -> dict[str, object]:
    """Train and test at one ε (``inf``: without DP) in this process; return its figures."""
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore

    overrides = [f"train.epochs={epochs}", f"train.patience={epochs}", "baselines=[]",
                 f"output.dir={out_dir}"]
    if max_len is not None:
        overrides.append(f"model.encoders.user.params.max_len={max_len}")
    if epsilon != "inf":
        overrides.append(f"train.privacy={{target_epsilon: {epsilon}, delta: {DELTA!r}}}")
    plugins = make_plugins()
    loaded = load_recipe(ROOT / RECIPE, plugins.registry, overrides)
    started = time.perf_counter()
    (outcome,) = Runner(plugins, Console(stderr=True)).run(loaded)
    if outcome.error is not None:
        raise outcome.error
    _, rows = ResultStore.in_dir(out_dir).query(
        "SELECT metric, avg(value), max(value) FROM metrics WHERE run_id = ? AND split = "
        "'train' GROUP BY metric", [outcome.run_id])
    train = {m: (mean, top) for m, mean, top in rows}
    sigma = None
    if epsilon != "inf":
        from opacus.accountants.utils import get_noise_multiplier

        rate = loaded.recipe.train.batch_size / USERS
        sigma = get_noise_multiplier(target_epsilon=float(epsilon), target_delta=DELTA,
                                     sample_rate=rate, steps=round(1 / rate) * epochs,
                                     accountant="prv")
    return {
        "target_epsilon": epsilon,
        "epsilon_spent": train["epsilon"][1] if "epsilon" in train else math.inf,
        "noise_multiplier": sigma,
        "epochs": epochs,
        "max_len": loaded.recipe.model.encoders.user.params["max_len"],
        "test_ndcg@10": outcome.metrics.get("ndcg@10"),
        "test_hr@10": outcome.metrics.get("hr@10"),
        "s_per_epoch": train["epoch_seconds"][0],
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> None:
    """Run each ε in its own process and print a table."""
    if argv[:1] == ["--one"]:
        max_len = None if argv[3] == "recipe" else int(argv[3])
        result = run_one(argv[1], int(argv[2]), max_len, Path(argv[4]))
        print("RESULT " + json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("epsilons", nargs="*", default=EPSILONS, help="ε values; inf: no DP")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--max-len", type=int, default=None, help="history length (default: "
                        "the recipe's 200)")
    parser.add_argument("--jobs", type=int, default=1, help="ε values run at once")
    args = parser.parse_args(argv)
    env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if args.jobs > 1 else {})}
    running = []
    results = []
    for epsilon in args.epsilons:
        out = ROOT / "runs" / "benchmarks" / f"privacy-eps-{epsilon}"
        running.append((epsilon, subprocess.Popen(
            [sys.executable, __file__, "--one", epsilon, str(args.epochs),
             str(args.max_len or "recipe"), str(out)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)))
        if len(running) >= args.jobs or epsilon == args.epsilons[-1]:
            for name, proc in running:
                stdout, _ = proc.communicate()
                line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
                if proc.returncode or line is None:
                    print(f"ε {name}: failed (exit {proc.returncode})", flush=True)
                    continue
                results.append(json.loads(line[len("RESULT "):]))
                print(json.dumps(results[-1]), flush=True)
            running = []
    print(f"\n{args.jobs} run(s) at a time, on {os.cpu_count()} CPU core(s)")
    print("| target ε | ε spent | noise σ | epochs | max len | test NDCG@10 | test HR@10 | "
          "s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        sigma = f"{r['noise_multiplier']:.3f}" if r["noise_multiplier"] else "—"
        spent = f"{r['epsilon_spent']:.2f}" if math.isfinite(r["epsilon_spent"]) else "∞"
        print(f"| {r['target_epsilon']} | {spent} | {sigma} | {r['epochs']} | {r['max_len']} | "
              f"{r['test_ndcg@10']:.4f} | {r['test_hr@10']:.4f} | {r['s_per_epoch']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
