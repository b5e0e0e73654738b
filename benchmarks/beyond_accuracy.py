"""Beyond accuracy on real data: coverage@10, novelty@10, Gini@10 (and NDCG@10 for scale) of
SASRec and its popularity baseline, printed as a table (never asserted).

    python benchmarks/beyond_accuracy.py                  # ML-1M and Beauty, 3 min each
    python benchmarks/beyond_accuracy.py --minutes 10 beauty

Each recipe trains for at most ``--minutes`` (``train.max_minutes``) on whatever device
``device: auto`` picks; the budget is printed with the table. Datasets are read from
$RECSYS_KIT_DATA (default ../shared/data).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"ml-1m": "recipes/ml-1m-sasrec.yaml", "beauty": "recipes/beauty-sasrec.yaml"}
EVALUATE = ("evaluate=[{plugin: ranking, params: {metrics: [hr, ndcg], k: [10]}}, "
            "{plugin: beyond_accuracy, params: {k: [10]}}]")
COLUMNS = ("ndcg@10", "coverage@10", "novelty@10", "gini@10", "arp@10", "ild@10")


def run(recipe: str, minutes: float, out_dir: Path) -> list[tuple[str, dict[str, float]]]:
    """Run the recipe and its baselines; (name, test metrics) of each."""
    from rich.console import Console

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner

    plugins = make_plugins()
    loaded = load_recipe(ROOT / recipe, plugins.registry,
                         [EVALUATE, f"train.max_minutes={minutes}", "output.explain=none",
                          f"output.dir={out_dir}"])
    outcomes = Runner(plugins, Console(stderr=True, quiet=True)).run(loaded)
    for o in outcomes:
        if o.error is not None:
            raise o.error
    return [(o.name, o.metrics) for o in outcomes]


def main() -> None:
    """Parse arguments, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help="ml-1m and/or beauty (default: both)")
    parser.add_argument("--minutes", type=float, default=3.0, help="train.max_minutes")
    args = parser.parse_args()
    unknown = sorted(set(args.datasets) - set(RECIPES))
    if unknown:
        parser.error(f"unknown dataset {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    rows = []
    for name in args.datasets or list(RECIPES):
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            results = run(RECIPES[name], args.minutes, Path(tmp))
        rows += [(name, run_name, metrics, time.perf_counter() - started)
                 for run_name, metrics in results]
    print(f"\nbeyond accuracy, test split; SASRec trained at most {args.minutes:g} min "
          "(train.max_minutes)")
    print(f"{'dataset':<8} {'run':<24} " + " ".join(f"{c:>11}" for c in COLUMNS))
    for dataset, run_name, metrics, _ in rows:
        cells = " ".join(f"{metrics[c]:>11.4f}" if c in metrics else f"{'—':>11}"
                         for c in COLUMNS)
        print(f"{dataset:<8} {run_name:<24} {cells}")


if __name__ == "__main__":
    main()
