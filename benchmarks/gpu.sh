#!/usr/bin/env bash
# The GPU check, in one script. Two steps:
#
#   bash benchmarks/gpu.sh prepare   # here, with network: wheels into .whl/, data into .gl/
#   bash benchmarks/gpu.sh           # on the lent GPU machine (no network), with .whl and .gl
#                                    # carried: install, GPU-marked tests, GPU benchmarks
#   bash benchmarks/gpu.sh large     # the same install, then only
#                                    # recipes/ml-1m-sasrec-large.yaml (8 minutes of training)
#
# The GPU machine has python3 3.12 with torch (CUDA), transformers, numpy, pyarrow, pytest,
# rich, typer, pluggy, safetensors and pyyaml, but not pydantic (and its three helpers), duckdb
# or textual: `prepare` downloads their cp312 manylinux wheels, the versions this checkout's
# .venv runs, plus opacus (the DP test on CUDA) and cut-cross-entropy (the `gpu` extra's fused
# kernel; it needs the Triton that comes with CUDA torch). The image already has what else the
# build and the tests need (setuptools, hypothesis, sortedcontainers, scipy, opt-einsum), and
# the device tool carries at most 64 MiB: scipy's wheel alone is 35 MB. Everything the run
# prints also goes to $OUT/gpu-report.txt when $OUT is set. Budget: under 6 minutes (install
# ~20 s, tests ~1 min, benchmarks ~4 min; the time limits below stop each part at 100 and 230 s).
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(pydantic pydantic-core annotated-types typing-inspection duckdb textual cut-cross-entropy
        opacus)

if [[ "${1:-run}" == "prepare" ]]; then
    python=.venv/bin/python
    pins=$("$python" - "${WHEELS[@]}" <<'PY'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(name)
PY
)
    rm -rf .whl && mkdir -p .whl
    # shellcheck disable=SC2086
    # duckdb 2 ships manylinux_2_27 wheels only: glibc 2.27+ (any current distribution).
    "$python" -m pip download --quiet --python-version 3.12 --only-binary=:all: \
        --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_28_x86_64 --no-deps -d .whl/ $pins
    data=${RECSYS_KIT_DATA:-../shared/data}
    rm -rf .gl && mkdir -p .gl/data/ml-1m
    cp "$data/ml-1m/sequences-stable.txt" .gl/data/ml-1m/
    ls -la .whl .gl/data/ml-1m
    du -sh .whl .gl
    carried=$(du -sm --total . --exclude=.git --exclude=.venv --exclude=runs | tail -1 | cut -f1)
    echo "about ${carried} MiB would travel (the device tool's limit: 64 MiB)"
    exit 0
fi

report=${OUT:-.}/gpu-report.txt
exec > >(tee "$report") 2>&1
started=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"

python3 -m pip install --quiet --no-index --no-deps --no-build-isolation .whl/*.whl
python3 -m pip install --quiet --no-index --no-deps --no-build-isolation .
python3 -c "import cut_cross_entropy, triton; print('fused kernel: cut-cross-entropy', cut_cross_entropy.__version__, 'triton', triton.__version__)" \
    || echo "fused kernel unavailable: the torch implementation will be used"
echo "installed in $(( $(date +%s) - started )) s"

export RECSYS_KIT_DATA=$PWD/.gl/data RECSYS_KIT_SHARED_DATA=$PWD/.gl/data HF_HUB_OFFLINE=1
if [[ "${1:-run}" == "large" ]]; then  # a call of its own: 8 minutes of training, no tests
    timeout 540 python3 benchmarks/gpu_benchmarks.py ml-1m-large || echo "stopped (exit $?)"
    echo "finished in $(( $(date +%s) - started )) s"
    exit 0
fi
# The GPU-marked tests live in these files; the TUI tests (textual's own dependencies) stay off.
timeout 100 python3 -m pytest -m gpu -q -p no:cacheprovider -o addopts="" -rA \
    tests/test_losses.py tests/test_end_to_end.py tests/test_fusion.py tests/serving/test_recommend.py \
    tests/test_distributed.py tests/test_privacy_dp.py || echo "GPU tests failed (exit $?)"
echo "tests done at $(( $(date +%s) - started )) s"

timeout 230 python3 benchmarks/gpu_benchmarks.py || echo "benchmarks stopped (exit $?)"
echo "finished in $(( $(date +%s) - started )) s"
