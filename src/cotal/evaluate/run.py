"""A results set evaluated end to end: ground truth, detection ids, cluster-to-class mapping, then detection mAP.

The library side of ``cotal eval``; ``Pipeline.evaluate`` calls :func:`run_evaluation` too. Nothing here imports
torch, and SciPy/scikit-learn load only when cluster ids are mapped to classes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cotal.data.actionformer import match_ids
from cotal.data.annotations import Annotations, load_annotations
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError
from cotal.evaluate.compact import apply_mapping_arrays
from cotal.evaluate.detection import evaluate_detections
from cotal.evaluate.formats import DetectionArrays, detections_to_arrays
from cotal.evaluate.instances import AmbiguousMode
from cotal.evaluate.mapping import ClusterMapping, build_mapping, cluster_id, mapping_to_json
from cotal.evaluate.result import DetectionResult
from cotal.utils.text import short_repr


@dataclass(frozen=True)
class GroundTruth:
    """Annotations and the default subsets of where they came from.

    Attributes:
        annotations: the ground truth.
        test_subset: subset evaluated by default (``dataset.yaml``'s; ``None`` for an annotations JSON: all videos).
        train_subset: subset whose cluster assignments build the mapping by default (``None`` for a JSON).
        source: the path it was read from, for error messages.
    """

    annotations: Annotations
    test_subset: str | None
    train_subset: str | None
    source: str

    def evaluated_subset(self, subset: str | None = None) -> str | None:
        """``subset``, or the default test subset; DataError when the annotations have no video in it."""
        subset = subset or self.test_subset
        if subset is not None and subset not in self.annotations.subsets:
            raise DataError(
                f"{self.source}: no videos in subset {subset!r}; subsets: {', '.join(self.annotations.subsets)}"
            )
        return subset


def load_ground_truth(path: str | os.PathLike) -> GroundTruth:
    """Ground truth of a native dataset folder (with its ``dataset.yaml`` subsets) or of an annotations JSON."""
    if Path(path).is_dir():
        ds = FeatureDataset(path)
        return GroundTruth(ds.annotations, ds.meta.test_subset, ds.meta.train_subset, str(path))
    return GroundTruth(load_annotations(path), None, None, str(path))


def match_video_ids(detections: DetectionArrays, annotations: Annotations) -> tuple[DetectionArrays, int]:
    """Detection video ids renamed to their ground-truth form where they differ only by a ``v_`` prefix.

    Returns:
        the detections (the same object when nothing was renamed) and the number of renamed ids.
    """
    renamed = match_ids(detections.video_ids, annotations)
    if not renamed:
        return detections, 0
    return dataclasses.replace(detections, video_ids=[renamed.get(v, v) for v in detections.video_ids]), len(renamed)


def training_assignments(
    assignments: Mapping[str, int],
    annotations: Annotations,
    *,
    evaluated: Collection[str],
    train_subset: str | None,
    source: str = "cluster assignments",
) -> dict[str, int]:
    """The assignments of training videos: annotated, not evaluated, and in ``train_subset`` when one is given.

    Raises:
        DataError: an assigned video is not in the ground truth (a cluster file of other data), or no assigned
            video is a training video (the mapping must never see the evaluated videos).
    """
    unknown = [v for v in assignments if v not in annotations]
    if unknown:
        raise DataError(
            f"{source}: {len(unknown)} of {len(assignments)} assigned videos are not in the ground truth (e.g. "
            f"{short_repr(unknown[0])}); is this the cluster file of another dataset?"
        )
    train = {
        v: k
        for v, k in assignments.items()
        if v in annotations and v not in evaluated and (train_subset is None or annotations[v].subset == train_subset)
    }
    if not train:
        raise DataError(
            f"{source}: no assigned video belongs to the training videos "
            f"(subset {train_subset or 'outside the evaluated ones'}); the mapping must come from training videos"
        )
    return train


@dataclass(frozen=True)
class MappedClusters:
    """How cluster-id detection labels were mapped to classes.

    Attributes:
        method: "soft" or "hungarian".
        mapping: cluster id -> [(class, weight), ...] (see :func:`cotal.evaluate.mapping.build_mapping`).
        num_train_videos: training videos whose assignments built the mapping.
        unmapped_labels: detection labels without a mapped cluster, left as they are (sorted).
        clustering: :func:`cotal.evaluate.clustering.clustering_metrics` of the training assignments.
    """

    method: str
    mapping: ClusterMapping
    num_train_videos: int
    unmapped_labels: list[str]
    clustering: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """Detection mAP and, for cluster-id labels, the mapping that turned them into classes."""

    detection: DetectionResult
    mapped: MappedClusters | None = None

    @property
    def labels_look_like_clusters(self) -> bool:
        """Unmapped detections whose unknown labels are all cluster ids: the assignments were probably forgotten."""
        unknown = self.detection.unknown_labels
        return self.mapped is None and bool(unknown) and all(cluster_id(x) is not None for x in unknown)

    def to_json(self) -> dict[str, Any]:
        """``{"mapping": ..., "clustering_train": ..., "detection": ...}`` (the first two only when mapped)."""
        out: dict[str, Any] = {}
        if self.mapped is not None:
            out["mapping"] = {
                "method": self.mapped.method,
                "num_train_videos": self.mapped.num_train_videos,
                "clusters": mapping_to_json(self.mapped.mapping),
            }
            out["clustering_train"] = self.mapped.clustering
        out["detection"] = self.detection.to_json()
        return out


def run_evaluation(
    annotations: Annotations,
    detections: Mapping[str, Sequence[Mapping[str, Any]]] | DetectionArrays,
    tiou_thresholds: Sequence[float] | str,
    *,
    train_assignments: Mapping[str, int] | None = None,
    mapping: Literal["soft", "hungarian"] = "soft",
    subset: str | None = None,
    video_ids: Sequence[str] | None = None,
    exclude_videos: Sequence[str] = (),
    ambiguous: AmbiguousMode | None = None,
    dedup_gt: bool = False,
    max_per_video: int | None = None,
) -> Evaluation:
    """Detection mAP of ``detections``, first mapping cluster-id labels to classes when assignments are given.

    Args:
        annotations: ground truth.
        detections: video id -> list of ``{"segment": [s, e], "label": str, "score": float}``, or
            :class:`DetectionArrays`.
        tiou_thresholds: thresholds or a preset name (see :func:`evaluate_detections`).
        train_assignments: TRAINING video id -> cluster id (e.g. from :func:`training_assignments`); when given,
            the mapping built from them relabels the detections before evaluation.
        mapping: cluster-to-class rule, "soft" or "hungarian".
        subset, video_ids, exclude_videos, ambiguous, dedup_gt, max_per_video: as in :func:`evaluate_detections`.
    Returns:
        :class:`Evaluation`.
    Raises:
        DataError, ConfigError: as :func:`evaluate_detections` and :func:`build_mapping`.
    """
    mapped = None
    if train_assignments is not None:
        # Lazy: scikit-learn and SciPy are slow to import, and `cotal eval` without clusters needs neither.
        from cotal.evaluate.clustering import clustering_metrics

        arr = detections if isinstance(detections, DetectionArrays) else detections_to_arrays(detections)
        cluster_map = build_mapping(train_assignments, annotations, method=mapping)
        unmapped = sorted(lab for lab in set(arr.labels) if cluster_id(lab) not in cluster_map)
        detections = apply_mapping_arrays(arr, cluster_map)
        mapped = MappedClusters(
            method=mapping,
            mapping=cluster_map,
            num_train_videos=len(train_assignments),
            unmapped_labels=unmapped,
            clustering=clustering_metrics(train_assignments, annotations),
        )
    result = evaluate_detections(
        annotations,
        detections,
        tiou_thresholds,
        subset=subset,
        video_ids=video_ids,
        exclude_videos=exclude_videos,
        ambiguous=ambiguous,
        dedup_gt=dedup_gt,
        max_per_video=max_per_video,
    )
    return Evaluation(result, mapped)
