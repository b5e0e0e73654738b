#!/usr/bin/env bash
# The GPU check, in one script. Two steps:
#
#   bash benchmarks/gpu.sh prepare   # here, with network: wheels into .whl/, data into .gl/
#   bash benchmarks/gpu.sh           # on the lent GPU machine (no network), with .whl and .gl
#                                    # carried: install, GPU-marked tests, GPU benchmarks
#   bash benchmarks/gpu.sh large [M] # the same install, then only
#                                    # recipes/ml-1m-sasrec-large.yaml, M minutes of training
#                                    # (default 8; the call takes M + 1.5 minutes)
#
# One session's device time (15 minutes, the machine's start included) holds `gpu.sh` and then
# `gpu.sh large M` with M = (budget_left_s of `status` - 120) / 60, run at once (a machine
# left idle goes back after 30 seconds); or `large 8` alone in a session of its own.
#
# The GPU machine has python3 3.12 with torch (CUDA), transformers, numpy, pyarrow, pytest,
# rich, typer, pluggy, safetensors and pyyaml, but not pydantic (and its three helpers), duckdb
# or textual: `prepare` downloads their cp312 manylinux wheels, the versions this checkout's
# .venv runs, plus opacus (the DP test on CUDA) and cut-cross-entropy (the `gpu` extra's fused
# kernel; it needs the Triton that comes with CUDA torch). The image already has what else the
# build and the tests need (setuptools, hypothesis, sortedcontainers, scipy, opt-einsum), and
# the device tool carries at most 64 MiB: scipy's wheel alone is 35 MB. Everything the run
# prints also goes to gpu-report.txt in $OUT (the device tool's), else in benchmarks/out/.
# Budget: under 6 minutes (install ~20 s, tests ~1 min, benchmarks ~4 min; the time limits
# below stop each part at 100 and 230 s).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case "$mode" in
    prepare|run|large) ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown mode '$mode'; use prepare, run (the default) or large [M]," \
            "or --help" >&2; exit 2 ;;
esac
minutes=${2:-8}  # large M: checked before anything is installed
if [[ "$mode" == "large" ]] && ! [[ "$minutes" =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu.sh large M: M is whole minutes of training, such as 5 (got '$minutes')" >&2
    exit 2
fi

WHEELS=(pydantic pydantic-core annotated-types typing-inspection duckdb textual cut-cross-entropy
        opacus)

if [[ "$mode" == "prepare" ]]; then
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
    # What the device tool copies: the files git does not ignore, and the carried folders.
    # (a tracked file deleted here is counted as nothing: du names it and goes on)
    tree=$({ git ls-files -z --cached --others --exclude-standard \
             | du -cb --files0-from=- 2>/dev/null || true; } | tail -1 | cut -f1)
    carried=$(du -cb .whl .gl | tail -1 | cut -f1)
    echo "about $(( (tree + carried) / 1048576 )) MiB would travel (the device tool's limit:" \
         "64 MiB)"
    exit 0
fi

mkdir -p "${OUT:-benchmarks/out}"
report=${OUT:-benchmarks/out}/gpu-report.txt
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
if [[ "$mode" == "large" ]]; then  # a call of its own: M minutes of training, no tests
    # 90 s beyond the training budget: start-up, data, the test ranking and explanations.
    timeout $(( minutes * 60 + 90 )) python3 benchmarks/gpu_benchmarks.py ml-1m-large \
        "--set=train.max_minutes=$minutes" || echo "stopped (exit $?)"
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
