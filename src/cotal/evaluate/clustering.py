"""Clustering quality against video-level ground truth: purity, ARI, NMI (two normalisers), Hungarian accuracy.

Each video needs one class for the single-label metrics. Multi-label rule: the class with the most segments in
the video; ties go to the larger total duration, then to the alphabetically first name (:func:`primary_label`).
``purity_multilabel`` instead counts a video as correct when its cluster's majority class is any of its labels:
``(1/N) sum_k max_j m_kj`` with ``m_kj`` the number of videos of cluster k that carry class j.

NMI = MI / normaliser with the geometric normaliser ``sqrt(H(U) H(V))`` (sklearn < 0.22, the authors' setup) and
the arithmetic one ``(H(U) + H(V)) / 2`` (sklearn >= 0.22 default). Natural logarithms; like sklearn, NMI and ARI
are 1.0 when both labelings put every video in one group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation


def primary_label(video: VideoAnnotation) -> str | None:
    """The video's single label: most segments, then longest total duration, then name; ``None`` if unlabelled."""
    if not video.labels:
        return None
    stats: dict[str, list[float]] = {}
    for (s, e), lab in zip(video.segments.tolist(), video.labels, strict=True):
        st = stats.setdefault(lab, [0, 0.0])
        st[0] += 1
        st[1] += e - s
    return min(stats, key=lambda lab: (-stats[lab][0], -stats[lab][1], lab))


def contingency(rows: Sequence[Any], cols: Sequence[Any]) -> tuple[np.ndarray, list, list]:
    """Count matrix of two aligned labelings: (R, S) int64 with sorted row and column values."""
    r_vals, r_idx = np.unique(np.asarray(rows), return_inverse=True)
    c_vals, c_idx = np.unique(np.asarray(cols), return_inverse=True)
    table = np.zeros((len(r_vals), len(c_vals)), dtype=np.int64)
    np.add.at(table, (r_idx, c_idx), 1)
    return table, r_vals.tolist(), c_vals.tolist()


def _entropy(counts: np.ndarray, n: int) -> float:
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def nmi_from_table(table: np.ndarray) -> tuple[float, float]:
    """(geometric, arithmetic) NMI of a (clusters, classes) contingency table."""
    n = int(table.sum())
    a, b = table.sum(axis=1), table.sum(axis=0)
    if (len(a) == 1 and len(b) == 1) or n == 0:
        return 1.0, 1.0
    nz = table > 0
    outer = np.outer(a, b)[nz].astype(np.float64)
    mi = float((table[nz] / n * (np.log(table[nz] * n) - np.log(outer))).sum())
    hu, hv = _entropy(a, n), _entropy(b, n)
    geo = mi / np.sqrt(hu * hv) if hu * hv > 0 else 0.0
    arith = mi / ((hu + hv) / 2) if hu + hv > 0 else 0.0
    return float(max(geo, 0.0)), float(max(arith, 0.0))


def ari_from_table(table: np.ndarray) -> float:
    """Adjusted Rand index of a contingency table (exact integer pair counts)."""
    n = int(table.sum())
    index = sum(comb(int(x), 2) for x in table.ravel())
    sa = sum(comb(int(x), 2) for x in table.sum(axis=1))
    sb = sum(comb(int(x), 2) for x in table.sum(axis=0))
    total = comb(n, 2)
    if total == 0:
        return 1.0
    expected = sa * sb / total
    max_index = (sa + sb) / 2
    if max_index == expected:  # both labelings trivial (one group, or all singletons)
        return 1.0
    return float((index - expected) / (max_index - expected))


def clustering_metrics(
    assignments: Mapping[str, int], annotations: Annotations, video_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """Purity, purity_multilabel, ARI, NMI (geometric and arithmetic) and Hungarian accuracy.

    Args:
        assignments: video id -> cluster id.
        annotations: ground truth (video labels come from its segments).
        video_ids: restrict to these videos (default: every assigned video).
    Returns:
        dict with ``purity``, ``purity_multilabel``, ``ari``, ``nmi_geometric``, ``nmi_arithmetic``, ``accuracy``
        (fractions), ``num_videos`` (used), ``num_clusters``, ``num_classes``, ``num_multilabel`` (used videos
        with more than one class), ``skipped_unlabelled`` (videos without segments), ``unknown_videos`` (assigned
        ids not in the annotations, sorted), ``unassigned`` (``video_ids`` without a cluster). Metrics are NaN when
        no video is usable.
    """
    ids = sorted(assignments) if video_ids is None else sorted(set(video_ids))
    unknown = [v for v in ids if v not in annotations]
    unassigned = [v for v in ids if v not in assignments]
    known = [v for v in ids if v in annotations and v in assignments]
    used = [v for v in known if annotations[v].labels]
    out: dict[str, Any] = {
        "num_videos": len(used),
        "skipped_unlabelled": len(known) - len(used),
        "unassigned": len(unassigned),
        "unknown_videos": unknown,
        "num_multilabel": sum(len(annotations[v].video_labels) > 1 for v in used),
    }
    if not used:
        nan = float("nan")
        out.update(purity=nan, purity_multilabel=nan, ari=nan, nmi_geometric=nan, nmi_arithmetic=nan, accuracy=nan)
        out.update(num_clusters=0, num_classes=0)
        return out
    clusters = [assignments[v] for v in used]
    table, cluster_vals, class_vals = contingency(clusters, [primary_label(annotations[v]) for v in used])
    n = len(used)
    # Multi-label purity: m_kj = videos of cluster k carrying class j among any of their labels.
    all_classes = sorted({lab for v in used for lab in annotations[v].video_labels})
    c_index, k_index = {c: j for j, c in enumerate(all_classes)}, {k: i for i, k in enumerate(cluster_vals)}
    multi = np.zeros((len(cluster_vals), len(all_classes)), dtype=np.int64)
    for v, k in zip(used, clusters, strict=True):
        for lab in annotations[v].video_labels:
            multi[k_index[k], c_index[lab]] += 1
    from scipy.optimize import linear_sum_assignment  # lazy: `cotal eval` without clusters needs no SciPy

    rows, cols = linear_sum_assignment(table, maximize=True)
    geo, arith = nmi_from_table(table)
    out.update(
        purity=float(table.max(axis=1).sum() / n),
        purity_multilabel=float(multi.max(axis=1).sum() / n),
        ari=ari_from_table(table),
        nmi_geometric=geo,
        nmi_arithmetic=arith,
        accuracy=float(table[rows, cols].sum() / n),
        num_clusters=len(cluster_vals),
        num_classes=len(class_vals),
    )
    return out
