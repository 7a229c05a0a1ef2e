"""Clustering quality against video-level ground truth (docs/method.md §9): purity (eq. 22), ARI, NMI (two
normalisers), Hungarian accuracy.

Each video needs one class for the single-label metrics. Multi-label rule: the class with the most segments in
the video; ties go to the larger total duration, then to the alphabetically first name (:func:`primary_label`).
``purity_multilabel`` instead counts a video as correct when its cluster's majority class is any of its labels:
``(1/N) sum_k max_j m_kj`` with ``m_kj`` the number of videos of cluster k that carry class j.

NMI, ARI and the contingency table are scikit-learn's: NMI = MI / normaliser with the geometric normaliser
``sqrt(H(U) H(V))`` (``average_method="geometric"``, sklearn < 0.22's default, the authors' setup) and the arithmetic
one ``(H(U) + H(V)) / 2`` (sklearn >= 0.22 default); both are 1.0 when both labelings put every video in one group,
and so is ARI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

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
    classes = [primary_label(annotations[v]) for v in used]
    table = contingency_matrix(clusters, classes)  # (clusters, classes), both sorted
    n = len(used)
    # Multi-label purity: m_kj = videos of cluster k carrying class j among any of their labels.
    all_classes = sorted({lab for v in used for lab in annotations[v].video_labels})
    c_index = {c: j for j, c in enumerate(all_classes)}
    k_index = {k: i for i, k in enumerate(np.unique(clusters).tolist())}
    multi = np.zeros((len(k_index), len(all_classes)), dtype=np.int64)
    for v, k in zip(used, clusters, strict=True):
        for lab in annotations[v].video_labels:
            multi[k_index[k], c_index[lab]] += 1
    rows, cols = linear_sum_assignment(table, maximize=True)
    out.update(
        purity=float(table.max(axis=1).sum() / n),
        purity_multilabel=float(multi.max(axis=1).sum() / n),
        ari=float(adjusted_rand_score(classes, clusters)),
        nmi_geometric=float(normalized_mutual_info_score(classes, clusters, average_method="geometric")),
        nmi_arithmetic=float(normalized_mutual_info_score(classes, clusters, average_method="arithmetic")),
        accuracy=float(table[rows, cols].sum() / n),
        num_clusters=table.shape[0],
        num_classes=table.shape[1],
    )
    return out
