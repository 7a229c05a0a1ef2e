"""Temporal IoU of 1-D segments (docs/method.md eq. 20), the one implementation shared by detection (NMS) and
evaluation (matching), and the tIoU thresholds evaluation uses (presets and their validation).

Numpy only, so that ``cotal eval`` and the NMS import neither torch nor SciPy through it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cotal.errors import ConfigError

THUMOS14_TIOU: tuple[float, ...] = tuple(round(0.1 * i, 2) for i in range(1, 8))
ACTIVITYNET_TIOU: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
TIOU_PRESETS: dict[str, tuple[float, ...]] = {"thumos14": THUMOS14_TIOU, "activitynet": ACTIVITYNET_TIOU}


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


def resolve_tiou_thresholds(tiou_thresholds: Sequence[float] | str) -> np.ndarray:
    """A preset name ("thumos14", "activitynet") or a list of thresholds in (0, 1] -> (K,) float64 array."""
    if isinstance(tiou_thresholds, str):
        if tiou_thresholds.lower() not in TIOU_PRESETS:
            raise ConfigError(f"unknown tIoU preset {tiou_thresholds!r}; choose one of {', '.join(TIOU_PRESETS)}")
        return np.asarray(TIOU_PRESETS[tiou_thresholds.lower()], dtype=np.float64)
    thr = np.asarray(list(tiou_thresholds), dtype=np.float64).reshape(-1)
    if thr.size == 0:
        raise ConfigError("tiou_thresholds is empty")
    if not np.all((thr > 0) & (thr <= 1)):
        raise ConfigError(f"tIoU thresholds must lie in (0, 1], got {thr.tolist()}")
    return thr
