"""What user-level differential privacy costs: SASRec on ML-1M at ε = ∞, 8, 4, 1.

    python benchmarks/privacy_benchmarks.py                  # every ε, in turn
    python benchmarks/privacy_benchmarks.py --epochs 5 8 1   # an epoch budget, some ε

Each ε runs `recipes/ml-1m-sasrec.yaml` (stable sequences, 3,416 items, max length 200) for the
same fixed number of epochs, in a fresh process, without early stopping (a private run keeps
its last weights; the non-private one keeps its best, which at this budget is the last too),
with δ just below 1/users (δ ≥ 1/users is refused). It prints: ε spent (Opacus's PRV
accountant), the noise multiplier, test NDCG@10 and HR@10, and training seconds per epoch.
Datasets are read from $RECSYS_KIT_DATA (default ../shared/data).
"""

from __future__ import annotations

import json
import math
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


def run_one(epsilon: str, epochs: int, out_dir: Path) -> dict[str, object]:
    """Train and test at one ε (``inf``: without DP) in this process; return its figures."""
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore

    overrides = [f"train.epochs={epochs}", f"train.patience={epochs}", "baselines=[]",
                 f"output.dir={out_dir}"]
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
        "test_ndcg@10": outcome.metrics.get("ndcg@10"),
        "test_hr@10": outcome.metrics.get("hr@10"),
        "s_per_epoch": train["epoch_seconds"][0],
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str]) -> None:
    """Run each ε in its own process and print a table."""
    if argv[:1] == ["--one"]:
        result = run_one(argv[1], int(argv[2]), Path(argv[3]))
        print("RESULT " + json.dumps(result), flush=True)
        return
    epochs = DEFAULT_EPOCHS
    if argv[:1] == ["--epochs"]:
        epochs, argv = int(argv[1]), argv[2:]
    results = []
    for epsilon in argv or EPSILONS:
        out = ROOT / "runs" / "benchmarks" / f"privacy-eps-{epsilon}"
        proc = subprocess.run([sys.executable, __file__, "--one", epsilon, str(epochs),
                               str(out)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"ε {epsilon}: failed (exit {proc.returncode})", flush=True)
            continue
        results.append(json.loads(line[len("RESULT "):]))
        print(json.dumps(results[-1]), flush=True)
    print("\n| target ε | ε spent | noise σ | epochs | test NDCG@10 | test HR@10 | s/epoch |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        sigma = f"{r['noise_multiplier']:.3f}" if r["noise_multiplier"] else "—"
        spent = f"{r['epsilon_spent']:.2f}" if math.isfinite(r["epsilon_spent"]) else "∞"
        print(f"| {r['target_epsilon']} | {spent} | {sigma} | {r['epochs']} | "
              f"{r['test_ndcg@10']:.4f} | {r['test_hr@10']:.4f} | {r['s_per_epoch']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
