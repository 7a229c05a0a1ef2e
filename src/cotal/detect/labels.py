"""Labels of a run's detections for other tools: cluster names, or class names through the training-set mapping.

A model trained on clusters labels its detections with cluster ids ("3"). ``cluster_names`` turns them into
``cluster_03`` (zero-padded to the widest id, so the names sort like the ids); ``class_names`` maps each cluster
to classes with the run's TRAINING assignments (``RUN/clusters.json``) and the training videos' ground truth, so
that the official ActivityNet evaluation, which refuses labels it does not know, can read the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from cotal.errors import ConfigError, DataError
from cotal.evaluate.formats import read_clusters
from cotal.evaluate.mapping import apply_mapping, build_mapping, cluster_id
from cotal.utils.io import read_json
from cotal.utils.run import RunLayout

Detections = dict[str, list[dict[str, Any]]]
CLUSTER_PREFIX = "cluster_"


def cluster_name(k: int, num_clusters: int) -> str:
    """``cluster_07``: the id zero-padded to the width of the largest id (at least two digits)."""
    return f"{CLUSTER_PREFIX}{k:0{max(2, len(str(num_clusters - 1)))}d}"


def cluster_names(detections: Mapping[str, Sequence[Mapping[str, Any]]], num_clusters: int) -> Detections:
    """Detections with cluster-id labels renamed to :func:`cluster_name`."""
    return {
        vid: [{**d, "label": cluster_name(cluster_id(d["label"]), num_clusters)} for d in dets]
        for vid, dets in detections.items()
    }


def class_names(
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
    run_dir: str | os.PathLike,
    method: Literal["soft", "hungarian"] = "soft",
) -> tuple[Detections, list[int]]:
    """Detections relabelled with classes through the run's training-set cluster-to-class mapping.

    Detections of clusters that map to no class (hungarian with more clusters than classes, or clusters without
    labelled training videos) are dropped, since no class-aware tool can score them.

    Returns:
        (detections, ids of the clusters whose detections were dropped).
    Raises:
        DataError: the run is not unsupervised, or its training videos' ground truth is not available.
    """
    run_dir, layout = Path(run_dir), RunLayout(Path(run_dir))
    if not layout.clusters.exists():
        raise ConfigError(f"{run_dir}: no clusters.json; --labels classes needs an unsupervised run")
    from cotal.data import FeatureDataset

    data = read_json(layout.run_info).get("data") if layout.run_info.exists() else None
    if data is None or not Path(data).is_dir():
        raise DataError(f"{run_dir}: the training dataset recorded in run.json ({data}) is not there")
    train = FeatureDataset(data)
    assign = read_clusters(layout.clusters)
    mapping = build_mapping(assign, train.annotations, method=method)
    if not mapping:
        raise DataError(f"{data}: the training videos have no labels, so clusters cannot be mapped to classes")
    dropped = sorted({k for k in assign.values() if k not in mapping})
    kept = {vid: [d for d in dets if cluster_id(d["label"]) in mapping] for vid, dets in detections.items()}
    return apply_mapping(kept, mapping), dropped
