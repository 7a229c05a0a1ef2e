"""Activation sequences -> scored temporal proposals (multi-threshold grouping with outer-inner contrast,
docs/method.md §8, eq. 19).

Everything here works on "samples": snippets at snippet resolution, or ``u`` samples per snippet (frames) after
upsampling. Conversion to seconds happens in :mod:`cotal.detect.detect` through ``SnippetTiming``.
"""

from __future__ import annotations

import numpy as np


def minmax_normalize(x: np.ndarray) -> np.ndarray:
    """Min-max normalise every column over time.

    Args:
        x: (T, K).
    Returns:
        (T, K) float64 in [0, 1]; a constant column becomes all zeros (no NaN).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return x.copy()
    lo = x.min(axis=0, keepdims=True)
    span = x.max(axis=0, keepdims=True) - lo
    return np.divide(x - lo, span, out=np.zeros_like(x), where=span > 0)


def upsample(x: np.ndarray, factor: int, *, alignment: str = "center") -> np.ndarray:
    """Linear interpolation of a snippet sequence to ``factor`` samples per snippet.

    Args:
        x: (T, K) values per snippet.
        factor: samples per snippet (the frame stride for frame resolution); 1 returns ``x``.
        alignment: ``"center"``: snippet i's value sits at the middle of its span (sample position
            ``(i + 0.5) * factor``); ``"start"``: at its first sample ``i * factor`` (authors). Values beyond the
            first/last snippet position are held constant.
    Returns:
        (T * factor, K) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    num = x.shape[0]
    if factor == 1 or num == 0:
        return x.copy()
    j = np.arange(num * factor, dtype=np.float64)
    pos = (j + 0.5) / factor - 0.5 if alignment == "center" else j / factor
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, num - 1)
    i1 = np.minimum(i0 + 1, num - 1)
    w = np.clip(pos - i0, 0.0, 1.0)[:, None]
    return x[i0] * (1.0 - w) + x[i1] * w


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Savitzky-Golay smoothing of order 1 along time (a moving average with linear fits at the ends).

    Args:
        x: (L, K).
        window: odd window in samples; shrunk to the largest odd number <= L; < 3 returns ``x`` unchanged.
    Returns:
        (L, K) float64.
    """
    x = np.asarray(x, dtype=np.float64)
    window = min(int(window), x.shape[0])
    window -= 1 - window % 2
    if window < 3:
        return x
    from scipy.signal import savgol_filter  # here, not at the top: scipy.signal takes ~1 s to import

    return savgol_filter(x, window, 1, axis=0, mode="interp")


def threshold_proposals(
    activation: np.ndarray,
    *,
    thresholds: np.ndarray,
    dilation: int = 0,
) -> np.ndarray:
    """Connected components of the thresholded, dilated activation, for all thresholds at once.

    Args:
        activation: (L,) activation (normalised to [0, 1]).
        thresholds: (K,) threshold values; a sample is "on" when ``activation > t x mean(activation)``.
        dilation: binary dilation window in samples: an "on" sample switches on ``dilation // 2`` samples before
            it and ``dilation - 1 - dilation // 2`` after (``scipy.ndimage.binary_dilation``); <= 1: none.
    Returns:
        (N, 2) int64 sample runs ``[start, end)``, distinct, sorted by start then end.
    """
    a = np.asarray(activation, dtype=np.float64).reshape(-1)
    cuts = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if len(a):
        cuts = cuts * a.mean()
    length = len(a)
    mask = np.zeros((len(cuts), length + 2), dtype=np.int8)
    mask[:, 1:-1] = a[None, :] > cuts[:, None]
    if dilation > 1:
        # origin -1 for even sizes: the window reaches dilation // 2 samples back, as scipy's binary_dilation.
        origin = -(1 - dilation % 2)
        from scipy.ndimage import maximum_filter1d  # lazy: keeps `import cotal.detect` (and the CLI) light

        mask[:, 1:-1] = maximum_filter1d(mask[:, 1:-1], size=dilation, axis=1, mode="constant", origin=origin)
    edges = np.diff(mask, axis=1)
    # Row-major nonzero keeps starts and ends of the same row in order, so they pair up one to one.
    starts = np.nonzero(edges == 1)[1]
    ends = np.nonzero(edges == -1)[1]
    runs = np.unique(starts * (length + 1) + ends)
    return np.stack([runs // (length + 1), runs % (length + 1)], axis=1).astype(np.int64)


def contrast_scores(activation: np.ndarray, runs: np.ndarray, *, context_ratio: float = 0.25) -> np.ndarray:
    """Outer-inner contrast: mean inside a run minus the mean of its outer context.

    The context is ``max(1, ceil(context_ratio * length))`` samples on each side, clipped to the sequence;
    a run with no context at all (it covers the whole sequence) scores its inner mean.

    Args:
        activation: (L,) activation.
        runs: (N, 2) int sample runs ``[start, end)`` with ``end > start``.
        context_ratio: context size per side as a fraction of the run length.
    Returns:
        (N,) float64 scores.
    """
    a = np.asarray(activation, dtype=np.float64).reshape(-1)
    csum = np.concatenate([[0.0], np.cumsum(a)])
    s, e = runs[:, 0], runs[:, 1]
    inner = (csum[e] - csum[s]) / (e - s)
    ctx = np.maximum(1, np.ceil(context_ratio * (e - s) - 1e-9)).astype(np.int64)
    left, right = np.maximum(s - ctx, 0), np.minimum(e + ctx, len(a))
    n_out = (s - left) + (right - e)
    out_sum = (csum[s] - csum[left]) + (csum[right] - csum[e])
    outer = np.divide(out_sum, n_out, out=np.zeros_like(out_sum), where=n_out > 0)
    return inner - outer
