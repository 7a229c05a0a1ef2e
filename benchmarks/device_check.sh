#!/usr/bin/env bash
# GPU figures in one run (under 8 minutes on one H100/H200): extraction, training, evaluation.
#   bash benchmarks/device_check.sh            (from the repository root; PYTHON defaults to .venv/bin/python)
# Prints: I3D RGB extraction snippets/s at 224 px (float32, bf16, fp16; batch chosen for the card) and the
# end-to-end extract_speed figure; training snippets/s of the padded/bucketed batch against the per-video
# loop on CUDA (float32), then the same benchmark on the CPU for the CPU figure; evaluation time at
# ActivityNet-1.2 scale. Each step has its own time limit so one slow step cannot eat the others' time.
set -u
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=${PYTHONPATH:-$PWD/src}
step() {  # step SECONDS TITLE COMMAND...
  local limit=$1 title=$2; shift 2
  echo "== $title (limit ${limit}s)"
  local t0=$SECONDS
  timeout "$limit" "$@" || echo "   step ended with status $? (124 = time limit)"
  echo "   took $((SECONDS - t0)) s"
}
date -u; nproc; uptime
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA")'
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv 2>/dev/null
step 75 "extraction: I3D RGB network, 224 px" $PY benchmarks/i3d_throughput.py --device cuda --precision float32 bf16 fp16
step 75 "extraction: end to end (decode + network), 224 px" $PY benchmarks/extract_speed.py --device cuda --sizes 224 --batch 32
step 100 "training on CUDA: loop vs padded vs bucketed" $PY benchmarks/train_throughput.py --device cuda --steps 20 --warmup 3
step 100 "training on the CPU (same benchmark, the CPU figure)" $PY benchmarks/train_throughput.py --device cpu --steps 3 --modes loop,bucketed
step 90 "evaluation, ActivityNet-1.2 scale" $PY benchmarks/eval_speed.py --videos 2382 --per-video 100 --classes 100
date -u
