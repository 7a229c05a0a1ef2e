"""Video descriptors for clustering: attention-weighted temporal pooling, L2-normalised per stream.

SPEC section 3: ``f^s = L2Norm(X_s^T w_s)`` for each stream ``s`` with (T,) weights ``w_s`` summing to 1
(round 1: uniform ``1/T``, i.e. mean pooling; later rounds: the class-agnostic attention S of the previous
model), and ``f = [f^rgb, f^flow]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cotal.data.attention import SHARED
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError

# Either {stream: {video_id: (T,)}} (what load_attention returns) or {video_id: (T,)} for every stream.
Attention = Mapping[str, Mapping[str, np.ndarray]] | Mapping[str, np.ndarray]


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


def _weights_for(attention: Attention | None, video_id: str, stream: str) -> np.ndarray | None:
    """The (T,) weights of one video and stream, or ``None`` (uniform) when no attention is given."""
    if attention is None:
        return None
    if isinstance(next(iter(attention.values()), None), Mapping):  # {stream: {vid: w}}
        table = attention.get(stream, attention.get(SHARED))
        if table is None:
            raise DataError(f"attention has no weights for stream {stream!r} (nor {SHARED!r})")
        where = f"stream {stream!r}" if stream in attention else f"stream {SHARED!r}"
    else:  # {vid: w}
        table, where = attention, "attention"
    if video_id not in table:
        raise DataError(f"attention ({where}) has no weights for video {video_id!r}")
    return table[video_id]


def video_descriptors(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    attention: Attention | None = None,
    streams: Sequence[str] | None = None,
) -> np.ndarray:
    """Descriptors of ``video_ids`` for clustering.

    Args:
        dataset: the feature dataset.
        video_ids: N video ids (rows of the result keep this order).
        attention: ``{stream: {vid: (T,)}}`` as read by :func:`cotal.data.attention.load_attention` (stream
            ``"all"`` applies to every stream) or ``{vid: (T,)}`` for every stream; ``None``: mean pooling.
        streams: streams to use, concatenated in ``("rgb", "flow")`` order; default: all the dataset has.

    Returns:
        (N, sum_s D_s) float32; each stream's block has unit L2 norm.

    Raises:
        DataError: unknown stream, missing video/attention, or attention length != T of the video.
    """
    use = tuple(streams) if streams is not None else dataset.streams
    unknown = [s for s in use if s not in dataset.streams]
    if unknown or not use:
        raise DataError(
            f"{dataset.root}: stream(s) {', '.join(unknown) or '(none)'} not available; "
            f"the dataset has {', '.join(dataset.streams)}"
        )
    use = tuple(s for s in dataset.streams if s in use)  # canonical order: rgb, then flow
    rows = []
    for vid in video_ids:
        parts = []
        for stream in use:
            x = dataset.features(vid, stream)
            try:
                parts.append(pool_features(x, _weights_for(attention, vid, stream)))
            except DataError as e:
                raise DataError(f"{dataset.root}: video {vid!r} ({stream}): {e}") from None
        rows.append(np.concatenate(parts))
    if not rows:
        raise DataError(f"{dataset.root}: no videos to describe")
    return np.stack(rows).astype(np.float32)
