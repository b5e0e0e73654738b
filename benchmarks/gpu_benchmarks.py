"""GPU figures: seconds per epoch, GPU utilisation, peak GPU memory and the output layer's
achieved TFLOP/s, printed (never asserted). Run by benchmarks/gpu.sh on a lent GPU machine.

    python benchmarks/gpu_benchmarks.py                      # everything (about 4 minutes)
    python benchmarks/gpu_benchmarks.py ml-1m output-layer   # some of it
    python benchmarks/gpu_benchmarks.py --device=cpu --users=2000 synthetic-200k:sce   # a
                                                             # rehearsal of the code paths

Benchmarks, each in a fresh process:
- ml-1m / ml-1m-torch-ce: recipes/ml-1m-sasrec.yaml for 5 epochs with train.deterministic off,
  full cross-entropy by the fused kernel (when the `gpu` extra is installed) / by the torch
  implementation.
- synthetic-200k:LOSS: recipes/synthetic-200k-sasrec.yaml, 50,000 users, 2 epochs, per loss
  (the quality comparison of benchmarks/loss_benchmarks.py at the scale of the issue).
- synthetic-1m: the synthetic recipe with a 1,000,000-item generator, 50,000 users, full
  cross-entropy, 2 epochs, then every user ranked over the whole catalogue.
- ml-1m-large (not in the default set: `bash benchmarks/gpu.sh large [M]`):
  recipes/ml-1m-sasrec-large.yaml for 8 (or M) minutes of training, test NDCG@10.
- output-layer: forward + backward of the full softmax alone on an ML-1M batch (25,600 x 3,416)
  and a 200k-catalogue batch (12,800 x 185,000), fused kernel and torch: TFLOP/s (6·N·V·D
  useful FLOP per step) against the card's dense bf16 peak.
Utilisation is sampled every 0.2 s while the model trains (validation included) with
torch.cuda.utilization() (needs pynvml), else `nvidia-smi`. s/epoch is the mean of the epochs
after the first: the first also compiles (the fused kernel's Triton kernels, torch.compile),
and is reported on its own. Peak GPU memory is read twice: at the end of training (training
and per-epoch validation) and after the run (test ranking included).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sasrec_benchmarks import exit_if_help, recipe_figures, run_each

from recsys_kit import hookspecs

#: Dense bf16 tensor-core peaks (TFLOP/s, without sparsity) by a substring of the device name.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0,
                    "L4": 121.0, "RTX 4090": 165.0}
#: Nondeterministic kernels allowed in every case: the fused kernel accumulates in whatever
#: order its tiles finish, so it is only picked when train.deterministic is off (and the torch
#: cases are measured the same way, for a like-for-like comparison).
FAST = ["baselines=[]", "train.deterministic=false"]
SYNTHETIC = "recipes/synthetic-200k-sasrec.yaml"
FIVE_EPOCHS = ["train.epochs=5", "train.patience=5", *FAST]
#: Two epochs: the first one's compilation stays out of the steady s/epoch.
TWO_EPOCHS = ["train.epochs=2", "train.patience=2", *FAST]
CASES: dict[str, tuple[str, list[str]]] = {
    "ml-1m": ("recipes/ml-1m-sasrec.yaml", FIVE_EPOCHS),
    "ml-1m-torch-ce": ("recipes/ml-1m-sasrec.yaml",
                       [*FIVE_EPOCHS, "model.scorer.params.kernel=torch"]),
    # One epoch of a 1,000,000-item catalogue (full softmax over the items the users touch),
    # then every user ranked over all of them (validation and test).
    "synthetic-1m": (SYNTHETIC, [
        "data.ingest.params.n_items=1000000", "model.scorer.params.loss=cross_entropy",
        *TWO_EPOCHS]),
    # The big recipe to its own time budget, cut to 8 minutes so that one 10-minute call of
    # the device tool holds it (`bash benchmarks/gpu.sh large M` sets M with
    # --set=train.max_minutes=M); not in DEFAULT.
    "ml-1m-large": ("recipes/ml-1m-sasrec-large.yaml", ["train.max_minutes=8", *FAST]),
}
LOSSES = ["cross_entropy", "sampled_softmax", "gbce", "sce"]
#: synthetic-1m last: if the time limit of gpu.sh stops it, the rest is already measured.
DEFAULT = ["ml-1m", "ml-1m-torch-ce", *(f"synthetic-200k:{loss}" for loss in LOSSES),
           "output-layer", "synthetic-1m"]


class Utilisation:
    """Samples GPU utilisation (percent) while the train stage runs; resets peak memory
    before it and reads it after it (``train_peak_bytes``)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.train_peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @hookspecs.hookimpl
    def before_stage(self, run, family, name):
        """Start sampling when training starts."""
        if family == "train" and run.device.type == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats(run.device)
            self._thread = threading.Thread(target=self._sample, args=(run.device,), daemon=True)
            self._thread.start()

    @hookspecs.hookimpl
    def after_stage(self, run, family, name, seconds):
        """Stop sampling when training ends."""
        if family == "train" and self._thread is not None:
            import torch

            self.train_peak_bytes = torch.cuda.max_memory_allocated(run.device)
            self._stop.set()
            self._thread.join()

    def _sample(self, device) -> None:
        import torch

        try:
            torch.cuda.utilization(device)
        except Exception:  # no pynvml: ask nvidia-smi instead
            self._sample_nvidia_smi(device.index or 0)
            return
        while not self._stop.wait(0.2):
            self.samples.append(float(torch.cuda.utilization(device)))

    def _sample_nvidia_smi(self, index: int) -> None:
        try:
            smi = subprocess.Popen(
                ["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu",
                 "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, text=True)
        except OSError:
            return
        assert smi.stdout is not None
        try:
            for line in smi.stdout:
                if self._stop.is_set():
                    break
                if line.strip().isdigit():
                    self.samples.append(float(line))
        finally:
            smi.kill()

    def mean(self) -> float | None:
        """Mean utilisation over the samples, or None without any."""
        return sum(self.samples) / len(self.samples) if self.samples else None


def recipe_case(name: str, out_dir: Path, argv: list[str]) -> dict[str, object]:
    """Run one recipe benchmark in this process."""
    import torch

    device, users, sets = options(argv)
    if name.startswith("synthetic-200k:"):
        loss = name.split(":", 1)[1]
        recipe, overrides = SYNTHETIC, [
            f"model.scorer.params.loss={loss}", f"data.ingest.params.n_users={users}",
            *TWO_EPOCHS]
        out_dir = out_dir.parent / "synthetic-200k"  # one data cache for every loss
    else:
        recipe, overrides = CASES[name]
        if recipe == SYNTHETIC:  # --users applies to every synthetic case
            overrides = [*overrides, f"data.ingest.params.n_users={users}"]
    watch = Utilisation()
    figures = recipe_figures(recipe, [*overrides, f"device={device}", *sets], out_dir, (watch,))
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    first, *steady = figures["epoch_seconds"] or [None]
    return {
        "benchmark": name, "epochs": figures["epochs"], "first_epoch_s": first,
        "s_per_epoch": sum(steady) / len(steady) if steady else first,
        "test_ndcg@10": figures["test"].get("ndcg@10"), "gpu_util_pct": watch.mean(),
        "train_peak_gpu_gib": gib(watch.train_peak_bytes),
        "peak_gpu_mem_gib": gib(torch.cuda.max_memory_allocated()) if cuda else None,
        "peak_rss_gib": figures["peak_rss_gib"],
    }


def gib(n_bytes: int | None) -> float | None:
    """Bytes in GiB, or None."""
    return None if n_bytes is None else n_bytes / 2**30


#: (label, positions N, items V) of the output-layer measurement.
SHAPES = [("ml-1m batch", 25_600, 3_416), ("200k batch", 12_800, 185_000)]


def output_layer(device_name: str, shapes: list[tuple[str, int, int]] = SHAPES) -> dict:
    """TFLOP/s of the full softmax's forward + backward, fused kernel and torch."""
    import torch

    from recsys_kit.nn.heads.full_softmax import dot_cross_entropy
    from recsys_kit.nn.heads.fused_kernel import fused_kernel_usable

    device = torch.device(device_name)
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in gpu_name), None)
    kernels = ["torch", "auto"] if fused_kernel_usable(device, torch.bfloat16) else ["torch"]
    rows = []
    for label, n, v in shapes:
        inputs = (torch.randn(n, 64, device=device, requires_grad=True),
                  (0.1 * torch.randn(v, 64, device=device)).requires_grad_(),
                  torch.randint(0, v, (n,), device=device))
        for kernel in kernels:
            seconds = timed(lambda x=inputs, k=kernel: dot_cross_entropy(
                *x, kernel=k).backward(), device)
            tflops = 6 * n * v * 64 / seconds / 1e12
            rows.append({"shape": label, "kernel": "fused" if kernel == "auto" else "torch",
                         "ms": seconds * 1000, "tflops": tflops,
                         "pct_of_peak": 100 * tflops / peak if peak else None})
    return {"benchmark": "output-layer", "gpu": gpu_name, "peak_bf16_tflops": peak,
            "rows": rows}


def timed(step, device, repeat: int = 10) -> float:
    """Mean seconds of ``step`` under bf16 autocast, after two warm-up calls."""
    import torch

    def run() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            step()

    for _ in range(2):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / repeat


def options(argv: list[str]) -> tuple[str, int, list[str]]:
    """--device=D (default cuda), --users=N (default 50,000) and --set=path=value options."""
    device, users, sets = "cuda", 50_000, []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "--device":
            device = value
        elif key == "--users":
            users = int(value)
        elif key == "--set":
            sets.append(value)
    return device, users, sets


def print_tables(results: list[dict]) -> None:
    """The recipe benchmarks as one table, the output layer as another."""
    runs = [r for r in results if r["benchmark"] != "output-layer"]
    full = next((r["test_ndcg@10"] for r in runs
                 if r["benchmark"] == "synthetic-200k:cross_entropy"), None)
    print("\nbenchmark | epochs | 1st epoch s | s/epoch after | test NDCG@10 | ratio to full CE"
          " | GPU util % | peak GPU GiB training | peak GPU GiB with ranking | peak RSS GiB")
    for r in runs:
        ndcg = r["test_ndcg@10"]
        ratio = (f"{ndcg / full:.3f}" if full and ndcg is not None and
                 r["benchmark"].startswith("synthetic-200k:") else "")
        print(f"{r['benchmark']} | {r['epochs']} | {fmt(r['first_epoch_s'], '.2f')} | "
              f"{fmt(r['s_per_epoch'], '.2f')} | {fmt(ndcg, '.4f')} | {ratio} | "
              f"{fmt(r['gpu_util_pct'], '.0f')} | {fmt(r['train_peak_gpu_gib'], '.2f')} | "
              f"{fmt(r['peak_gpu_mem_gib'], '.2f')} | {fmt(r['peak_rss_gib'], '.2f')}")
    for r in (r for r in results if r["benchmark"] == "output-layer"):
        print(f"\noutput layer on {r['gpu']} (dense bf16 peak {fmt(r['peak_bf16_tflops'], '.0f')}"
              " TFLOP/s)\nshape | kernel | ms per step | TFLOP/s | % of peak")
        for row in r["rows"]:
            print(f"{row['shape']} | {row['kernel']} | {row['ms']:.2f} | {row['tflops']:.1f} | "
                  f"{fmt(row['pct_of_peak'], '.1f')}")


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or n/a."""
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str]) -> None:
    """Run the named benchmarks (default: all), each in its own process; print tables."""
    exit_if_help(argv, __doc__)
    if len(argv) >= 2 and argv[0] == "--one":
        name, out_dir, rest = argv[1], Path(argv[2]), argv[3:]
        result = (output_layer(options(rest)[0]) if name == "output-layer"
                  else recipe_case(name, out_dir, rest))
        print("RESULT " + json.dumps(result), flush=True)
        return
    names = [a for a in argv if not a.startswith("--")] or DEFAULT
    flags = [a for a in argv if a.startswith("--")]
    print_tables(run_each(__file__, names, flags))


if __name__ == "__main__":
    main(sys.argv[1:])
