"""Losses for big catalogues against the full softmax: quality and cost, printed (never
asserted).

    python benchmarks/loss_benchmarks.py                        # every loss, the defaults below
    python benchmarks/loss_benchmarks.py sce gbce               # some of them (full CE is the
                                                                # reference: include it)
    python benchmarks/loss_benchmarks.py --users=50000 --epochs=1 --set=device=cuda

SASRec on the 200,000-item synthetic catalogue (recipes/synthetic-200k-sasrec.yaml) with each
loss for the same number of epochs (no early stop), each in a fresh process (so peak memory is
its own). Prints one JSON line per loss, then: loss, epochs, s/epoch, test NDCG@10, ratio to
full cross-entropy, peak RSS. A name may carry scorer params: `sampled_softmax:sampler=popularity`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sasrec_benchmarks import exit_if_help, recipe_figures, run_each

RECIPE = "recipes/synthetic-200k-sasrec.yaml"
LOSSES = ["cross_entropy", "sampled_softmax", "gbce", "sce"]
#: Users of the synthetic data and epochs per loss: what full cross-entropy allowed on a shared
#: 2-core CPU. 2,000 users touch 40,644 of the 200,000 items, and the vocabulary (hence the
#: softmax) holds the items seen; 50,000 users (--users=50000, a GPU) reach nearly all of them.
DEFAULT_USERS, DEFAULT_EPOCHS = 2_000, 1


def overrides(name: str, users: int, epochs: int) -> list[str]:
    """Recipe overrides for ``loss[:param=value,...]``."""
    loss, _, params = name.partition(":")
    extra = [f"model.scorer.params.{p}" for p in params.split(",") if p]
    return [f"model.scorer.params.loss={loss}", *extra, f"data.ingest.params.n_users={users}",
            f"train.epochs={epochs}", f"train.patience={epochs}", "baselines=[]"]


def run_one(name: str, out_dir: Path, extra: list[str]) -> dict[str, object]:
    """Train and test one loss in this process; ``extra`` holds --users/--epochs/--set."""
    users, epochs, sets = options(extra)
    figures = recipe_figures(RECIPE, [*overrides(name, users, epochs), *sets], out_dir)
    return {"loss": name, "users": users, "epochs": figures["epochs"],
            "s_per_epoch": figures["s_per_epoch"], "test_ndcg@10": figures["test"]["ndcg@10"],
            "test_hr@10": figures["test"]["hr@10"], "peak_rss_gib": figures["peak_rss_gib"]}


def options(argv: list[str]) -> tuple[int, int, list[str]]:
    """--users=N, --epochs=N and --set=path=value options."""
    users, epochs, sets = DEFAULT_USERS, DEFAULT_EPOCHS, []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "--users":
            users = int(value)
        elif key == "--epochs":
            epochs = int(value)
        elif key == "--set":
            sets.append(value)
    return users, epochs, sets


def main(argv: list[str]) -> None:
    """Run the named losses (default: all) each in its own process; print a table."""
    exit_if_help(argv, __doc__)
    if len(argv) >= 2 and argv[0] == "--one":
        print("RESULT " + json.dumps(run_one(argv[1], Path(argv[2]), argv[3:])), flush=True)
        return
    names = [a for a in argv if not a.startswith("--")] or LOSSES
    flags = [a for a in argv if a.startswith("--")]
    results = run_each(__file__, names, flags)
    full = next((r["test_ndcg@10"] for r in results if r["loss"] == "cross_entropy"), None)
    print("\nloss | epochs | s/epoch | test NDCG@10 | ratio to full CE | peak RSS GiB")
    for r in results:
        ratio = f"{r['test_ndcg@10'] / full:.3f}" if full else "n/a"
        print(f"{r['loss']} | {r['epochs']} | {r['s_per_epoch']:.1f} | {r['test_ndcg@10']:.4f} | "
              f"{ratio} | {r['peak_rss_gib']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
