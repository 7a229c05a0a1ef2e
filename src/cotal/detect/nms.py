"""(Soft) non-maximum suppression of 1-D segments, in numpy."""

from __future__ import annotations

import numpy as np

from cotal.evaluate.tiou import temporal_iou


def nms(segments: np.ndarray, scores: np.ndarray, *, tiou: float) -> np.ndarray:
    """Greedy hard NMS: visit proposals by decreasing score, drop any whose tIoU with a kept one is > ``tiou``.

    Args:
        segments: (N, 2) start/end.
        scores: (N,) scores; ties keep input order.
        tiou: suppression threshold (strict ``>``, as in the authors' code).
    Returns:
        (K,) int indices of the kept proposals, by decreasing score.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)[order]
    alive = np.ones(len(order), dtype=bool)
    keep = []
    # One row of tIoU per kept proposal (O(N) memory): frame-level proposals of a noisy video can number 10^4.
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        rest = i + 1 + np.flatnonzero(alive[i + 1 :])
        alive[rest[temporal_iou(seg[i : i + 1], seg[rest])[0] > tiou]] = False
    return order[np.asarray(keep, dtype=np.int64)]


def soft_nms(segments: np.ndarray, scores: np.ndarray, *, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian soft-NMS (Bodla et al., 2017): repeatedly take the best proposal and decay the others.

    Each remaining proposal's score is decayed by ``d = exp(-tiou^2 / sigma)`` towards a floor
    ``f = min(0, min(scores))``: ``s <- f + (s - f) * d``. With non-negative scores this is the standard rule
    ``s <- s * d``; the floor keeps the rule monotone (a decay never raises a score) when scores can be negative,
    as the outer-inner contrast score can.

    Args:
        segments: (N, 2) start/end.
        scores: (N,) scores.
        sigma: Gaussian width (> 0).
    Returns:
        indices (N,) int in the order they were selected, and their decayed scores (N,) float64 (non-increasing).
    """
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    cur = np.asarray(scores, dtype=np.float64).reshape(-1).copy()
    floor = min(0.0, float(cur.min())) if len(cur) else 0.0
    remaining = np.arange(len(cur))
    picked, picked_scores = [], []
    while len(remaining):
        j = int(np.argmax(cur[remaining]))
        best = remaining[j]
        picked.append(best)
        picked_scores.append(cur[best])
        remaining = np.delete(remaining, j)
        if len(remaining):
            decay = np.exp(-(temporal_iou(seg[best : best + 1], seg[remaining])[0] ** 2) / sigma)
            cur[remaining] = floor + (cur[remaining] - floor) * decay
    return np.asarray(picked, dtype=np.int64), np.asarray(picked_scores, dtype=np.float64)
