"""Cluster-to-class mapping for unsupervised detections (docs/method.md §9).

The mapping is computed from TRAINING-set cluster assignments and training ground truth only, then applied to
test detections, whose labels are cluster ids written as strings of ints ("3").

Counts: ``n_kj`` = number of labelled training videos in cluster k that carry class j (a multi-label video counts
once for each of its classes; unlabelled videos and ids missing from the annotations are skipped).

- ``"soft"`` (the authors' rule): the cluster's majority class (largest ``n_kj``; ties to the alphabetically first
  name) gets weight 1.0; every other class with ``n_kj >= max_j n_kj / 2`` gets weight 0.5.
- ``"hungarian"``: one-to-one assignment maximising ``sum n_kj`` (scipy's ``linear_sum_assignment``); each matched
  cluster maps to its class with weight 1.0, clusters left over (more clusters than classes) map to nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from cotal.data.annotations import Annotations
from cotal.errors import ConfigError

ClusterMapping = dict[int, list[tuple[str, float]]]


def _counts(assignments: Mapping[str, int], annotations: Annotations) -> tuple[np.ndarray, list[int], list[str]]:
    """(K, C) multi-label counts n_kj, sorted cluster ids, sorted class names."""
    used = sorted(v for v in assignments if v in annotations and annotations[v].labels)
    clusters = sorted({int(assignments[v]) for v in used})
    classes = sorted({lab for v in used for lab in annotations[v].video_labels})
    k_index, c_index = {k: i for i, k in enumerate(clusters)}, {c: j for j, c in enumerate(classes)}
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    for v in used:
        for lab in annotations[v].video_labels:
            table[k_index[int(assignments[v])], c_index[lab]] += 1
    return table, clusters, classes


def build_mapping(
    assignments: Mapping[str, int],
    annotations: Annotations,
    method: Literal["soft", "hungarian"] = "soft",
) -> ClusterMapping:
    """Map cluster ids to weighted classes from training assignments (see the module docstring).

    Args:
        assignments: TRAINING video id -> cluster id.
        annotations: ground truth containing those videos.
        method: "soft" (authors' soft majority) or "hungarian" (one-to-one).
    Returns:
        cluster id -> [(class name, weight), ...], heaviest first; clusters without labelled videos are absent.
    """
    if method not in ("soft", "hungarian"):
        raise ConfigError(f"mapping method must be 'soft' or 'hungarian', got {method!r}")
    table, clusters, classes = _counts(assignments, annotations)
    mapping: ClusterMapping = {}
    if method == "hungarian":
        from scipy.optimize import linear_sum_assignment  # lazy: SciPy is slow to import, `cotal eval` rarely needs it

        rows, cols = linear_sum_assignment(table, maximize=True)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            mapping[clusters[r]] = [(classes[c], 1.0)]
        return mapping
    for i, k in enumerate(clusters):
        row = table[i]
        top = int(np.argmax(row))  # first maximum = alphabetically first class on ties
        half = [j for j in np.argsort(-row, kind="stable").tolist() if j != top and 2 * row[j] >= row[top]]
        mapping[k] = [(classes[top], 1.0)] + [(classes[j], 0.5) for j in half]
    return mapping


def cluster_id(label: Any) -> int | None:
    """The int cluster id written in a detection label ("3" or "cluster_03" -> 3), else ``None``."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    if isinstance(label, str):
        try:
            return int(label.strip().removeprefix("cluster_"))
        except ValueError:
            return None
    return None


def apply_mapping(
    detections: Mapping[str, Sequence[Mapping[str, Any]]], mapping: Mapping[int, Sequence[tuple[str, float]]]
) -> dict[str, list[dict[str, Any]]]:
    """Relabel cluster-id detections with classes.

    Each detection whose label is a mapped cluster id becomes one detection per mapped class, with
    ``score * weight``; other detections pass through unchanged, so evaluation reports their labels as unknown
    instead of losing them silently.

    Returns:
        a new dict video id -> list of detection dicts (inputs are not modified).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for vid, dets in detections.items():
        new: list[dict[str, Any]] = []
        for d in dets:
            targets = mapping.get(cluster_id(d["label"]))
            if targets is None:
                new.append(dict(d))
                continue
            new.extend({**d, "label": cls, "score": float(d["score"]) * float(w)} for cls, w in targets)
        out[vid] = new
    return out


def mapping_to_json(mapping: Mapping[int, Sequence[tuple[str, float]]]) -> dict[str, list[list[Any]]]:
    """JSON form ``{"3": [["Diving", 1.0], ["CliffDiving", 0.5]]}`` (cluster ids ascending)."""
    return {str(k): [[c, float(w)] for c, w in mapping[k]] for k in sorted(mapping)}
