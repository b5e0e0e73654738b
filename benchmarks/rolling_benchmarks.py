"""Warm start vs retraining from scratch, round by round, on MovieLens-1M's real timestamps.

    python benchmarks/rolling_benchmarks.py                      # recipes/ml-1m-rolling.yaml
    python benchmarks/rolling_benchmarks.py --set model.encoders.user.params.max_len=50

Runs `recipes/ml-1m-rolling.yaml` twice, in fresh output folders, both with the recipe's
settings and seed: once as written (every round after the first starts from the previous
round's best weights and trains at most `warm_epochs`), once with
`data.split.params.warm_start=false` (every round trains from scratch, up to `train.epochs`
with early stopping). Round 1 is the same in both. It prints, per round: test NDCG@10 and
HR@10 of each, the difference, the epochs trained and the wall time of each round's run, and
the share of the scratch time the warm start took. Extra `--set` overrides go to both.
Datasets are read from $RECSYS_KIT_DATA (default ../shared/data).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes/ml-1m-rolling.yaml"

ROUNDS_SQL = """
SELECT r.trial, r.run_id, epoch(r.ended_at - r.started_at) AS seconds,
       (SELECT max(epoch) FROM metrics m WHERE m.run_id = r.run_id AND m.split = 'train') AS epochs,
       (SELECT value FROM metrics m WHERE m.run_id = r.run_id AND m.split = 'test'
          AND m.metric = 'ndcg' AND m.k = 10) AS ndcg,
       (SELECT value FROM metrics m WHERE m.run_id = r.run_id AND m.split = 'test'
          AND m.metric = 'hr' AND m.k = 10) AS hr
FROM runs r WHERE r.sweep_id IS NOT NULL AND r.parent_run_id IS NULL ORDER BY r.trial
"""


def run_rounds(out_dir: Path, overrides: list[str]) -> tuple[list[tuple], float]:
    """Run the rolling recipe into ``out_dir``; its rounds' figures and the total seconds."""
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore

    plugins = make_plugins()
    loaded = load_recipe(RECIPE, plugins.registry, [*overrides, "baselines=[]",
                                                    f"output.dir={out_dir}"])
    started = time.perf_counter()
    outcomes = Runner(plugins, Console(stderr=True)).run(loaded)
    failed = [o for o in outcomes if o.status != "completed"]
    if failed:
        raise SystemExit(f"round {failed[0].name} ended {failed[0].status}: {failed[0].error}")
    _, rows = ResultStore.in_dir(out_dir).query(ROUNDS_SQL)
    return rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="A recipe override for both runs.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm, warm_total = run_rounds(Path(tmp) / "warm", args.overrides)
        scratch, scratch_total = run_rounds(
            Path(tmp) / "scratch", [*args.overrides, "data.split.params.warm_start=false"])
    print(f"\nrecipes/ml-1m-rolling.yaml {' '.join(args.overrides)}".rstrip())
    print("| round | NDCG@10 scratch | NDCG@10 warm | Δ | HR@10 scratch | HR@10 warm | "
          "epochs scratch / warm | s scratch | s warm | warm / scratch time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s, w in zip(scratch, warm, strict=True):
        print(f"| {s[0]} | {s[4]:.4f} | {w[4]:.4f} | {w[4] - s[4]:+.4f} | {s[5]:.4f} | "
              f"{w[5]:.4f} | {s[3]} / {w[3]} | {s[2]:.0f} | {w[2]:.0f} | {w[2] / s[2]:.0%} |")
    later = slice(1, None)
    s_later = sum(r[2] for r in scratch[later])
    w_later = sum(r[2] for r in warm[later])
    print(f"rounds 2+: scratch {s_later:.0f} s, warm {w_later:.0f} s "
          f"({w_later / s_later:.0%}); whole evaluation: scratch {scratch_total:.0f} s, "
          f"warm {warm_total:.0f} s")


if __name__ == "__main__":
    main()
