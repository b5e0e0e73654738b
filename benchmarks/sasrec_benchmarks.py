"""SASRec on the real datasets: quality and speed figures, printed (never asserted).

    python benchmarks/sasrec_benchmarks.py                 # every benchmark, in turn
    python benchmarks/sasrec_benchmarks.py beauty ml-1m    # some of them

Each benchmark runs in a fresh process (so peak memory is its own) and prints: best-epoch
validation and test NDCG@10 / HR@10, the popularity baseline, seconds per epoch, sequences
per second, full-ranking evaluation time for all users, ingestion time and peak RSS.
Datasets are read from $RECSYS_KIT_DATA (default ../shared/data).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (recipe, overrides). Published figures are quoted in docs/datasets.md.
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "ml-1m-raw-20min": ("recipes/ml-1m-raw-sasrec.yaml", ["train.max_minutes=20"]),
    "beauty": ("recipes/beauty-sasrec.yaml", ["train.max_minutes=20"]),
    "ml-1m": ("recipes/ml-1m-sasrec.yaml", ["train.max_minutes=25"]),
    "ml-100k": ("recipes/ml-100k-sasrec.yaml", ["train.max_minutes=4"]),
    "scientific": ("recipes/scientific-sasrec.yaml", ["train.max_minutes=8"]),
}


def recipe_figures(
    recipe: str, overrides: list[str], out_dir: Path, extra_plugins: tuple[object, ...] = ()
) -> dict[str, object]:
    """Run a recipe in this process: test metrics of the run and its baselines, timings;
    ``extra_plugins`` (hook implementations) watch the run."""
    from rich.console import Console

    from recsys_kit import hookspecs
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.pipeline import Runner
    from recsys_kit.store import ResultStore

    stage_seconds: dict[str, float] = {}

    class Timer:
        @hookspecs.hookimpl
        def after_stage(self, run, family, name, seconds):
            stage_seconds[family] = stage_seconds.get(family, 0.0) + seconds

    plugins = make_plugins(extra=[Timer(), *extra_plugins])
    loaded = load_recipe(ROOT / recipe, plugins.registry, [*overrides, f"output.dir={out_dir}"])
    started = time.perf_counter()
    outcomes = Runner(plugins, Console(stderr=True)).run(loaded)
    wall = time.perf_counter() - started
    main = outcomes[0]
    if main.error is not None:
        raise main.error
    store = ResultStore.in_dir(out_dir)
    _, train = store.query(
        "SELECT metric, avg(value), count(*) FROM metrics WHERE run_id = ? AND split = 'train' "
        "GROUP BY metric", [main.run_id])
    per_epoch = {m: v for m, v, _ in train}
    _, epochs = store.query(
        "SELECT value FROM metrics WHERE run_id = ? AND split = 'train' "
        "AND metric = 'epoch_seconds' ORDER BY epoch", [main.run_id])
    monitor = loaded.recipe.train.monitor
    name, _, k = monitor.partition("@")
    _, best = store.query(
        "SELECT m.value FROM metrics m JOIN runs r USING (run_id) WHERE run_id = ? "
        "AND split = 'valid' AND metric = ? AND k IS NOT DISTINCT FROM ? "
        "AND epoch = r.best_epoch", [main.run_id, name, int(k) if k else None])
    return {
        "test": main.metrics,
        "baselines": {o.name.rsplit(":", 1)[-1]: o.metrics for o in outcomes[1:]},
        "epochs": max((n for _, _, n in train), default=0),
        f"best_epoch_valid_{monitor}": best[0][0] if best else None,
        "s_per_epoch": per_epoch.get("epoch_seconds"),
        "epoch_seconds": [value for (value,) in epochs],
        "sequences_per_s": per_epoch.get("sequences_per_s"),
        "eval_s_all_users": per_epoch.get("eval_seconds"),
        "ingest_s": stage_seconds.get("ingest"),
        "data_stages_s": main.data_seconds,
        "wall_s": wall,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def run_one(name: str, out_dir: Path, extra: list[str]) -> dict[str, object]:
    """Run one benchmark in this process and return its figures."""
    recipe, overrides = BENCHMARKS[name]
    figures = recipe_figures(recipe, [*overrides, *extra], out_dir)
    test, pop = figures.pop("test"), figures.pop("baselines").get("popularity", {})
    figures.pop("epoch_seconds")  # the mean is in s_per_epoch; the table keeps one row a run
    return {
        "benchmark": name,
        "epochs": figures.pop("epochs"),
        "best_epoch_valid_ndcg@10": figures.pop("best_epoch_valid_ndcg@10", None),
        "test_ndcg@10": test.get("ndcg@10"),
        "test_hr@10": test.get("hr@10"),
        "popularity_ndcg@10": pop.get("ndcg@10"),
        "popularity_hr@10": pop.get("hr@10"),
        **figures,
    }


def exit_if_help(argv: list[str], doc: str | None) -> None:
    """Print the script's docstring and exit for -h/--help (these scripts read argv by hand)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print((doc or "").strip())
        raise SystemExit(0)


def run_each(script: str, names: list[str], extra: list[str]) -> list[dict]:
    """Run ``script --one NAME OUT_DIR [extra]`` per benchmark, each in a fresh process (so
    peak memory is its own); print and return each one's RESULT line."""
    results = []
    for name in names:
        out = ROOT / "runs" / "benchmarks" / name
        proc = subprocess.run([sys.executable, script, "--one", name, str(out), *extra],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"{name}: failed (exit {proc.returncode})", flush=True)
            continue
        results.append(json.loads(line[len("RESULT "):]))
        print(json.dumps(results[-1]), flush=True)
    return results


def main(argv: list[str]) -> None:
    """Run the named benchmarks (default: all) each in its own process; print a table."""
    exit_if_help(argv, __doc__)
    if len(argv) >= 2 and argv[0] == "--one":
        out = Path(argv[2])
        print("RESULT " + json.dumps(run_one(argv[1], out, argv[3:])), flush=True)
        return
    names = [a for a in argv if not a.startswith("--")] or list(BENCHMARKS)
    extra = [a[len("--set="):] for a in argv if a.startswith("--set=")]
    results = run_each(__file__, names, extra)
    keys = list(results[0]) if results else []
    print("\n" + " | ".join(keys))
    for r in results:
        print(" | ".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys))


if __name__ == "__main__":
    main(sys.argv[1:])
