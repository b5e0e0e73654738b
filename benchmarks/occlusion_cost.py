"""Cost of occlusion explanations per user, against the cost of ranking, printed as a table.

    python benchmarks/occlusion_cost.py                         # ML-1M SASRec, 200 users
    python benchmarks/occlusion_cost.py --users 500 --recipe recipes/beauty-sasrec.yaml

The model is built from the recipe with its initial weights (the cost of scoring does not
depend on what the weights hold); the first ``--users`` users are ranked (top ``output.top_k``)
and then explained by occlusion, each on the recipe's device with its precision. Datasets
are read from $RECSYS_KIT_DATA (default ../shared/data).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def measure(recipe: str, n_users: int, keep: int, out_dir: Path) -> dict[str, float]:
    """Rank and explain the first ``n_users`` users; seconds and sizes."""
    from rich.console import Console

    from recsys_kit.columns import VALID
    from recsys_kit.nn.ranking.rank import rank
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.context import RunContext, resolve_device
    from recsys_kit.runner.data_stages import prepare_data
    from recsys_kit.runner.modelling import build_model
    from recsys_kit.runner.occlusion import occlusion_reasons

    plugins = make_plugins()
    loaded = load_recipe(ROOT / recipe, plugins.registry, [f"output.dir={out_dir}"])
    console = Console(stderr=True, quiet=True)
    data = prepare_data(loaded, out_dir / "cache", console, lambda *_: lambda: None).data
    device = resolve_device(loaded.recipe.device)
    ctx = RunContext("benchmark", loaded, device, out_dir, plugins, console)
    torch.manual_seed(loaded.recipe.seed)
    model, max_len = build_model(ctx, data)
    train = loaded.recipe.train
    histories = data.sequences(VALID)[:n_users]
    started = time.perf_counter()
    ranking = rank(model, histories, [np.zeros(0, np.int64)] * len(histories),
                   k=loaded.recipe.output.top_k, max_len=max_len,
                   batch_size=train.eval_batch_size, device=device, precision=train.precision)
    rank_s = time.perf_counter() - started
    started = time.perf_counter()
    reasons = occlusion_reasons(model, histories, ranking.items, keep=keep, max_len=max_len,
                                device=device, precision=train.precision,
                                batch_rows=train.eval_batch_size)
    explain_s = time.perf_counter() - started
    seen = np.minimum([len(h) for h in histories], max_len)
    return {"users": len(histories), "max_len": max_len, "mean_seen": float(seen.mean()),
            "top_k": loaded.recipe.output.top_k, "rank_ms": 1000 * rank_s / len(histories),
            "explain_ms": 1000 * explain_s / len(histories),
            "rows": sum(len(r) for r in reasons), "device": str(device),
            "threads": torch.get_num_threads()}


def main() -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="recipes/ml-1m-sasrec.yaml")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--keep", type=int, default=5, help="history items kept per item")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(args.recipe, args.users, args.keep, Path(tmp))
    print(f"\nocclusion cost, {args.recipe}, {m['device']} ({m['threads']} threads)")
    print(f"{'users':>6} {'max_len':>7} {'seen/user':>9} {'top_k':>5} {'rank ms/user':>13} "
          f"{'occlusion ms/user':>18} {'ratio':>6} {'rows':>7}")
    print(f"{m['users']:>6} {m['max_len']:>7} {m['mean_seen']:>9.1f} {m['top_k']:>5} "
          f"{m['rank_ms']:>13.2f} {m['explain_ms']:>18.2f} "
          f"{m['explain_ms'] / m['rank_ms']:>6.0f} {m['rows']:>7}")


if __name__ == "__main__":
    main()
