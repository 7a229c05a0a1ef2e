"""Label-free signals of a co-attention round (docs/clustering.md, "Round signals"; the guard: docs/method.md D4).

A user without labels still needs to know whether a round helped. Each function here reads only features,
cluster assignments and model outputs: never ground truth. (The one exception, :func:`attention_ratio`, takes
ground-truth segments explicitly and is used for reporting only.)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import silhouette_score


def silhouette(x: np.ndarray, labels: np.ndarray, *, seed: int = 0, max_samples: int = 4000) -> float | None:
    """Mean cosine silhouette of (N, D) descriptors under ``labels`` (a sample of ``max_samples`` when larger).

    Returns None when it is undefined (fewer than 2 clusters, or every video in its own cluster).
    """
    k = len(np.unique(labels))
    if not 2 <= k <= len(labels) - 1:
        return None
    size = min(len(labels), max_samples)
    return float(silhouette_score(x, labels, metric="cosine", sample_size=size, random_state=seed))


def embedding_margin(embedding: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) confidence of each video's cluster in the spectral embedding, in [-1, 1].

    ``(d_other - d_own) / (d_other + d_own)`` with ``d_own`` the distance to the video's cluster centroid and
    ``d_other`` to the nearest other centroid: 1 at its own centroid, 0 half-way, negative when closer to another.
    """
    rows = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    ids = np.unique(labels)
    centroids = np.stack([rows[labels == c].mean(axis=0) for c in ids])
    # |a - b|^2 = |a|^2 + |b|^2 - 2ab: (N, K) without an (N, K, dim) temporary (N may be very large).
    sq = (rows * rows).sum(1)[:, None] + (centroids * centroids).sum(1)[None, :] - 2.0 * rows @ centroids.T
    d = np.sqrt(np.maximum(sq, 0.0))
    own = np.searchsorted(ids, labels)
    d_own = d[np.arange(len(labels)), own]
    d[np.arange(len(labels)), own] = np.inf
    d_other = d.min(axis=1) if len(ids) > 1 else np.full(len(labels), np.inf)
    margin = (d_other - d_own) / np.maximum(d_other + d_own, 1e-12)
    return np.where(np.isfinite(margin), margin, 1.0)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two (T,) sequences (0 when either is constant)."""
    ra, rb = rankdata(a), rankdata(b)  # ties share their average rank
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else 0.0


def attention_distinctiveness(attention: Mapping[str, np.ndarray], distinct: Mapping[str, np.ndarray]) -> float:
    """Median over videos of the rank correlation between S and snippet distinctiveness (label-free guard).

    Distinctiveness is a snippet's distance from its video's median snippet: what sets it apart from the
    background the video shares with every other video. A model whose S favours the shared background over
    that has inverted attention, and pooling with it clusters by background.
    """
    values = [rank_correlation(attention[v], distinct[v]) for v in attention if len(attention[v]) > 2]
    return float(np.median(values)) if values else 0.0


def attention_support(attention: Mapping[str, np.ndarray]) -> float:
    """Mean over videos of the effective share of snippets S attends to: ``exp(entropy(S)) / T``, in (0, 1].

    1 for a uniform S (it pools like the mean), q for an S spread evenly over a share q of the snippets.
    """
    values = []
    for s in attention.values():
        p = np.asarray(s, dtype=np.float64)
        p = p / max(p.sum(), 1e-12)
        entropy = -float((p * np.log(np.maximum(p, 1e-300))).sum())
        values.append(np.exp(entropy) / len(p))
    return float(np.mean(values)) if values else 1.0


def attention_ratio(attention: np.ndarray, action_mask: np.ndarray) -> float | None:
    """Mean S on action snippets / mean S on background snippets of one video (ground truth: reporting only)."""
    inside, outside = action_mask >= 0.5, action_mask < 0.5
    if not inside.any() or not outside.any():
        return None
    return float(attention[inside].mean() / max(attention[outside].mean(), 1e-12))
