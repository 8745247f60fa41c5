#!/usr/bin/env bash
# The detector and the pipeline on this machine's GPU (benchmarks/bench_gpu.py says what and how); run from
# the repository root after scripts/setup.sh. Prints the card, then one JSON summary on stdout (progress on
# stderr), also written to $OUT/gpu.json when $OUT is set. Under 8 minutes on an H100 (a guard stops it at
# 7:50). Arguments go to bench_gpu.py, e.g. `benchmarks/gpu.sh --smoke` (tiny counts, any device, CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
if [ ! -x "$python" ]; then
  echo "gpu.sh: no .venv here: run scripts/setup.sh first (or carry .venv to this machine)" >&2
  exit 2
fi
if [ ! -f analysis/weights/node_modules/@vladmandic/human/models/centernet.bin ]; then
  echo "gpu.sh: the detector's weights are missing: npm ci --prefix analysis/weights (scripts/setup.sh does it)" >&2
  exit 2
fi

echo "== card" >&2
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
else
  echo "nvidia-smi: not installed" >&2
fi
"$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "->",
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")' >&2

echo "== benchmarks/bench_gpu.py $*" >&2
exec timeout --signal=INT --kill-after=10 470 "$python" -m benchmarks.bench_gpu "$@"
