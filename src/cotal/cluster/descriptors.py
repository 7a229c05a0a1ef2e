"""Video descriptors for clustering: weighted temporal pooling, L2-normalised per stream.

docs/method.md eq. (3): ``f^s = L2Norm(X_s^T w_s)`` for each stream ``s`` with (T,) weights ``w_s`` summing to 1
(round 0: the label-free weights of :func:`round0_weights`, or uniform ``1/T``, i.e. mean pooling; later rounds:
the class-agnostic attention S of the previous round's models), and ``f = [f^rgb, f^flow]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

import numpy as np

from cotal.cluster.config import Pooling
from cotal.cluster.weights import SnippetWeights
from cotal.data.dataset import FeatureDataset
from cotal.data.normalize import Normalization
from cotal.errors import ConfigError, DataError


def pool_features(x: np.ndarray, weights: np.ndarray | None = None, *, normalize: bool = True) -> np.ndarray:
    """Pool snippet features over time with temporal weights.

    Args:
        x: (T, D) snippet features.
        weights: (T,) non-negative weights, renormalised to sum 1; ``None`` means uniform ``1/T``.
        normalize: L2-normalise the pooled vector (a zero vector stays zero).

    Returns:
        (D,) float64 vector ``x^T w`` (divided by its L2 norm when ``normalize``).

    Raises:
        DataError: ``x`` is not 2-D, or the weights have the wrong length, negative/non-finite entries or sum 0.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"features must be a non-empty (T, D) array, got shape {x.shape}")
    T = x.shape[0]
    if weights is None:
        w = np.full(T, 1.0 / T)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != T:
            raise DataError(f"attention weights have length {w.shape[0]} but the features have T={T} snippets")
        if not np.isfinite(w).all() or (w < 0).any():
            raise DataError("attention weights must be finite and >= 0")
        total = w.sum()
        if total <= 0:
            raise DataError("attention weights sum to 0")
        w = w / total
    pooled = x.T.astype(np.float64, copy=False) @ w
    if normalize:
        pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
    return pooled


def _use_streams(dataset: FeatureDataset, streams: Sequence[str] | None) -> tuple[str, ...]:
    """The requested streams in canonical order (rgb, then flow); unknown ones raise DataError."""
    use = tuple(streams) if streams is not None else dataset.streams
    unknown = [s for s in use if s not in dataset.streams]
    if unknown or not use:
        raise DataError(
            f"{dataset.root}: stream(s) {', '.join(unknown) or '(none)'} not available; "
            f"the dataset has {', '.join(dataset.streams)}"
        )
    return tuple(s for s in dataset.streams if s in use)


def snippet_features(
    dataset: FeatureDataset,
    video_id: str,
    stream: str,
    normalization: Normalization | None = None,
    center: bool = False,
) -> np.ndarray:
    """(T, D) float32 features as the clustering sees them: standardised, minus the video's median when ``center``.

    Subtracting the per-dimension median snippet removes what is constant over a video (its subject, camera or
    scene signature), which otherwise dominates pooled descriptors (docs/clustering.md).
    """
    x = np.asarray(dataset.features(video_id, stream), dtype=np.float32)
    if normalization is not None:
        x = normalization.apply(x, stream)
    if center:
        x = x - np.median(x, axis=0, keepdims=True)
    return x


def video_descriptors(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    weights: SnippetWeights | None = None,
    streams: Sequence[str] | None = None,
    *,
    normalization: Normalization | None = None,
    center: bool = False,
) -> np.ndarray:
    """Descriptors of ``video_ids`` for clustering.

    Args:
        dataset: the feature dataset.
        video_ids: N video ids (rows of the result keep this order).
        weights: (T,) snippet weights of every video and stream (:class:`SnippetWeights`); ``None``: mean pooling.
        streams: streams to use, concatenated in ``("rgb", "flow")`` order; default: all the dataset has.
        normalization, center: feature transform before pooling (see :func:`snippet_features`).

    Returns:
        (N, sum_s D_s) float32; each stream's block has unit L2 norm.

    Raises:
        DataError: unknown stream, missing video or weights, or weights whose length is not the video's T.
    """
    use = _use_streams(dataset, streams)
    rows = []
    for vid in video_ids:
        parts = []
        for stream in use:
            x = snippet_features(dataset, vid, stream, normalization, center)
            try:
                parts.append(pool_features(x, weights.of(stream, vid) if weights is not None else None))
            except DataError as e:
                raise DataError(f"{dataset.root}: video {vid!r} ({stream}): {e}") from None
        rows.append(np.concatenate(parts))
    if not rows:
        raise DataError(f"{dataset.root}: no videos to describe")
    return np.stack(rows).astype(np.float32)


POOLINGS: tuple[str, ...] = get_args(Pooling)


def joint_snippets(
    dataset: FeatureDataset, vid: str, streams: Sequence[str], normalization: Normalization | None, center: bool
) -> np.ndarray:
    """(T, sum D) snippets of all streams, each stream's block scaled by 1/sqrt(D) so the streams count equally."""
    parts = []
    for s in streams:
        x = snippet_features(dataset, vid, s, normalization, center)
        parts.append(x / np.sqrt(x.shape[1]))
    return np.concatenate(parts, axis=1)


def distinctiveness(x: np.ndarray) -> np.ndarray:
    """(T, D) -> (T,) distance of each snippet from the video's median snippet (docs/method.md eq. 4)."""
    return np.linalg.norm(x - np.median(x, axis=0, keepdims=True), axis=1)


def _top_fraction(score: np.ndarray, fraction: float) -> np.ndarray:
    """(T,) 0/1 weights on the ceil(fraction * T) highest scores (at least one snippet)."""
    k = max(1, int(np.ceil(fraction * len(score))))
    w = np.zeros(len(score), dtype=np.float32)
    w[np.argsort(-score, kind="stable")[:k]] = 1.0
    return w


def round0_weights(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    *,
    pooling: Pooling,
    streams: Sequence[str] | None = None,
    normalization: Normalization | None = None,
    center: bool = False,
    fraction: float = 0.3,
) -> SnippetWeights | None:
    """Label-free snippet weights of the first clustering, before any model exists (docs/method.md eq. 4).

    Args:
        pooling: ``"mean"`` (uniform, the paper: returns None) or ``"distinctive"`` (the ``fraction`` of each
            video's snippets farthest from its median snippet, every stream together, one weighting for all).
        fraction: share of snippets kept by ``distinctive``.

    Returns:
        The same (T,) 0/1 weights for every stream, or None for mean pooling.
    """
    if pooling not in POOLINGS:
        raise ConfigError(f"cluster.pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if not 0 < fraction <= 1:
        raise ConfigError(f"cluster.top_fraction must lie in (0, 1], got {fraction!r}")
    if pooling == "mean":
        return None
    use = _use_streams(dataset, streams)
    weights = {  # one video in memory at a time
        vid: _top_fraction(distinctiveness(joint_snippets(dataset, vid, use, normalization, center)), fraction)
        for vid in video_ids
    }
    return SnippetWeights.shared(weights, use)
