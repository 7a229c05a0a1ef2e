"""Activation processing and multi-threshold grouping, checked against naive per-threshold loops."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from cotal.detect import contrast_scores, minmax_normalize, smooth, threshold_proposals, upsample


def naive_runs(a: np.ndarray, thresholds: np.ndarray, dilation: int) -> set[tuple[int, int]]:
    """One threshold at a time with scipy's binary dilation and connected-component labelling."""
    runs = set()
    for t in thresholds:
        mask = a > t * a.mean()
        if dilation > 1:
            mask = ndimage.binary_dilation(mask, structure=np.ones(dilation, dtype=bool))
        labels, n = ndimage.label(mask)
        for k in range(1, n + 1):
            idx = np.flatnonzero(labels == k)
            runs.add((int(idx[0]), int(idx[-1]) + 1))
    return runs


@settings(max_examples=60, deadline=None)
@given(
    a=arrays(np.float64, st.integers(1, 80), elements=st.floats(0, 1)),
    dilation=st.integers(0, 7),
)
def test_threshold_proposals_match_naive(a: np.ndarray, dilation: int) -> None:
    thresholds = np.linspace(0.1, 1.0, 10)
    runs = threshold_proposals(a, thresholds=thresholds, dilation=dilation)
    assert {tuple(r) for r in runs.tolist()} == naive_runs(a, thresholds, dilation)
    assert len(runs) == len({tuple(r) for r in runs.tolist()})  # distinct


def test_thresholds_are_relative_to_the_mean() -> None:
    a = np.array([0.0, 0.2, 0.6, 0.9, 0.6, 0.0])
    runs = threshold_proposals(a, thresholds=np.array([0.5]))  # 0.5 x mean 0.383
    np.testing.assert_array_equal(runs, [[1, 5]])
    runs = threshold_proposals(a, thresholds=np.array([1.5]))  # 1.5 x mean 0.383 = 0.575
    np.testing.assert_array_equal(runs, [[2, 5]])


@settings(max_examples=40, deadline=None)
@given(a=arrays(np.float64, st.integers(2, 60), elements=st.floats(0, 1)), data=st.data())
def test_contrast_scores_match_naive(a: np.ndarray, data: st.DataObject) -> None:
    s = data.draw(st.integers(0, len(a) - 1))
    e = data.draw(st.integers(s + 1, len(a)))
    got = contrast_scores(a, np.array([[s, e]]), context_ratio=0.25)[0]
    ctx = max(1, int(np.ceil(0.25 * (e - s) - 1e-9)))
    outer = np.concatenate([a[max(0, s - ctx) : s], a[e : e + ctx]])
    want = a[s:e].mean() - (outer.mean() if len(outer) else 0.0)
    assert np.isclose(got, want)


def test_minmax_constant_and_empty() -> None:
    x = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 3.0]])
    out = minmax_normalize(x)
    np.testing.assert_array_equal(out[:, 0], 0.0)  # constant column: zeros, no NaN
    np.testing.assert_allclose(out[:, 1], [0.0, 1.0, 0.5])
    assert minmax_normalize(np.zeros((0, 3))).shape == (0, 3)


def test_upsample_alignment() -> None:
    x = np.arange(6, dtype=float)[:, None]
    start = upsample(x, 16, alignment="start")
    assert start.shape == (96, 1)
    np.testing.assert_allclose(start[::16, 0], x[:, 0])  # snippet i sits on its first sample
    center = upsample(x, 16, alignment="center")
    # Snippet i sits mid-span: the mean over its 16 samples is x[i] away from the (held) ends.
    np.testing.assert_allclose(center.reshape(6, 16).mean(axis=1)[1:-1], x[1:-1, 0])
    np.testing.assert_array_equal(upsample(np.full((4, 2), 3.0), 8), 3.0)
    np.testing.assert_array_equal(upsample(x, 1), x)


def test_smooth_preserves_lines_and_skips_tiny_windows() -> None:
    line = np.linspace(0, 1, 50)[:, None] * np.array([[1.0, -2.0]])
    np.testing.assert_allclose(smooth(line, 9), line, atol=1e-12)  # order-1 fit reproduces a line
    noisy = np.random.default_rng(0).normal(size=(200, 1))
    assert smooth(noisy, 21).std() < 0.5 * noisy.std()
    np.testing.assert_array_equal(smooth(noisy[:2], 21), noisy[:2])  # shorter than 3 samples: unchanged
