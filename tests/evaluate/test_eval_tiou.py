"""The one temporal IoU: pairwise and elementwise forms agree with each other and with the closed formula."""

from __future__ import annotations

import numpy as np

from cotal.detect import temporal_iou as detect_tiou
from cotal.evaluate.tiou import temporal_iou


def _segments(n: int, rng: np.random.Generator) -> np.ndarray:
    s = rng.uniform(0, 50, n).round(1)
    seg = np.column_stack([s, s + rng.choice([0.0, 0.5, 3.0, 20.0], n)])
    seg[::7] = seg[::7, :1]  # some zero-length segments
    return seg


def test_pairwise_and_elementwise_agree_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    a, b = _segments(40, rng), _segments(30, rng)
    full = temporal_iou(a, b)
    assert full.shape == (40, 30)
    ia, ib = np.meshgrid(np.arange(40), np.arange(30), indexing="ij")
    np.testing.assert_array_equal(temporal_iou(a[ia.ravel()], b[ib.ravel()], pairwise=False), full.ravel())
    assert detect_tiou is temporal_iou
    # Closed formula, with empty unions at 0.
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    np.testing.assert_array_equal(full, np.divide(inter, union, out=np.zeros_like(inter), where=union > 0))
    assert np.isfinite(full).all() and ((full >= 0) & (full <= 1)).all()
