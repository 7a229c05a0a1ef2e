"""Non-maximum suppression of 1-D segments, in numpy."""

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
