"""Temporal IoU of 1-D segments (docs/method.md eq. 20), the one implementation shared by detection (NMS) and
evaluation (matching).

Numpy only, so that ``cotal eval`` and the NMS import neither torch nor SciPy through it.
"""

from __future__ import annotations

import numpy as np


def temporal_iou(segments: np.ndarray, others: np.ndarray, *, pairwise: bool = True) -> np.ndarray:
    """Temporal IoU ``|A & B| / |A | B|``; 0 where the union is empty (two zero-length segments).

    Args:
        segments: (N, 2) start/end (any unit; end >= start).
        others: (M, 2) start/end in the same unit; M == N when ``pairwise`` is False.
        pairwise: every segment against every other one, or row i of ``segments`` against row i of ``others``.
    Returns:
        (N, M) float64 in [0, 1] when ``pairwise``, else (N,).
    """
    a = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(others, dtype=np.float64).reshape(-1, 2)
    if pairwise:
        a, b = a[:, None, :], b[None, :, :]
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
