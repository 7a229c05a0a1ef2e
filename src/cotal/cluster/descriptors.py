"""Video descriptors for clustering: attention-weighted temporal pooling, L2-normalised per stream.

docs/method.md eq. (3): ``f^s = L2Norm(X_s^T w_s)`` for each stream ``s`` with (T,) weights ``w_s`` summing to 1
(round 0: uniform ``1/T``, i.e. mean pooling; later rounds: the class-agnostic attention S of the previous
model), and ``f = [f^rgb, f^flow]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import get_args

import numpy as np

from cotal.cluster.config import Pooling
from cotal.data.attention import SHARED
from cotal.data.dataset import FeatureDataset
from cotal.data.normalize import Normalization
from cotal.errors import ConfigError, DataError

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
    attention: Attention | None = None,
    streams: Sequence[str] | None = None,
    *,
    normalization: Normalization | None = None,
    center: bool = False,
) -> np.ndarray:
    """Descriptors of ``video_ids`` for clustering.

    Args:
        dataset: the feature dataset.
        video_ids: N video ids (rows of the result keep this order).
        attention: ``{stream: {vid: (T,)}}`` as read by :func:`cotal.data.attention.load_attention` (stream
            ``"all"`` applies to every stream) or ``{vid: (T,)}`` for every stream; ``None``: mean pooling.
        streams: streams to use, concatenated in ``("rgb", "flow")`` order; default: all the dataset has.
        normalization, center: feature transform before pooling (see :func:`snippet_features`).

    Returns:
        (N, sum_s D_s) float32; each stream's block has unit L2 norm.

    Raises:
        DataError: unknown stream, missing video/attention, or attention length != T of the video.
    """
    use = _use_streams(dataset, streams)
    rows = []
    for vid in video_ids:
        parts = []
        for stream in use:
            x = snippet_features(dataset, vid, stream, normalization, center)
            try:
                parts.append(pool_features(x, _weights_for(attention, vid, stream)))
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
    method: str,
    *,
    streams: Sequence[str] | None = None,
    normalization: Normalization | None = None,
    center: bool = False,
    fraction: float = 0.3,
    codebook_size: int = 64,
    seed: int = 0,
) -> dict[str, np.ndarray] | None:
    """Label-free snippet weights for the first clustering, before any model exists (docs/clustering.md).

    Args:
        method: ``"mean"`` (uniform, the paper: returns None), ``"distinctive"`` (the ``fraction`` of each
            video's snippets farthest from its median snippet) or ``"idf"`` (each snippet weighted by the
            inverse document frequency of its codeword in a k-means codebook of all training snippets:
            what nearly every video contains, the shared background, weighs ~0; what few videos contain
            weighs most).
        fraction: share of snippets kept by ``distinctive``.
        codebook_size: codewords of ``idf``.
        seed: seeds the codebook's k-means.

    Returns:
        ``{video_id: (T,) non-negative weights}`` shared by every stream, or None for mean pooling.
    """
    if method not in POOLINGS:
        raise ConfigError(f"cluster.pooling must be one of {', '.join(POOLINGS)}, got {method!r}")
    if not 0 < fraction <= 1:
        raise ConfigError(f"cluster.top_fraction must lie in (0, 1], got {fraction!r}")
    if method == "mean":
        return None
    use = _use_streams(dataset, streams)
    if method == "distinctive":  # one video in memory at a time
        return {
            vid: _top_fraction(distinctiveness(joint_snippets(dataset, vid, use, normalization, center)), fraction)
            for vid in video_ids
        }
    return _idf_weights(
        lambda vid: joint_snippets(dataset, vid, use, normalization, center), dataset, video_ids, codebook_size, seed
    )


def _idf_weights(
    snippets_of: Callable[[str], np.ndarray],
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    codebook_size: int,
    seed: int,
    sample_size: int = 50_000,
) -> dict[str, np.ndarray]:
    """Snippet weight = idf of its codeword, ``log(N / df)``; a video whose words are all common gets uniform.

    Two passes over the videos, one in memory at a time: a sample of ``sample_size`` snippets (drawn from each video
    in proportion to its length) fits the codebook, then every video's snippets are assigned to it.
    """
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(seed)
    lengths = np.array([dataset.num_snippets(v) for v in video_ids])
    share = min(1.0, sample_size / max(int(lengths.sum()), 1))
    parts = []
    for vid, t in zip(video_ids, lengths, strict=True):
        rows = rng.choice(t, size=min(t, max(1, round(share * t))), replace=False)
        parts.append(snippets_of(vid)[np.sort(rows)])
    sample = np.concatenate(parts).astype(np.float32)
    k = max(2, min(codebook_size, len(sample) // 4))
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit(sample)
    words = {vid: km.predict(snippets_of(vid).astype(np.float32)) for vid in video_ids}
    df = np.zeros(k)
    for w in words.values():
        df[np.unique(w)] += 1
    idf = np.log(len(words) / np.maximum(df, 1.0))
    out = {}
    for vid, w in words.items():
        weights = idf[w].astype(np.float32)
        out[vid] = weights if weights.sum() > 0 else np.ones_like(weights)
    return out
