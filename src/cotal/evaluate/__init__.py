"""Evaluation: detection mAP (ActivityNet protocol, over a set of videos or per video), clustering metrics,
cluster-to-class mapping, file formats, and :func:`run_evaluation`, all of them together (``cotal eval``,
``Pipeline.evaluate``).

Names load on first use (PEP 562), so that importing a light submodule such as ``cotal.evaluate.formats`` does not
pull in SciPy.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "ACTIVITYNET_TIOU": "cotal.evaluate.tiou",
    "DetectionResult": "cotal.evaluate.result",
    "Evaluation": "cotal.evaluate.run",
    "GroundTruth": "cotal.evaluate.run",
    "MappedClusters": "cotal.evaluate.run",
    "THUMOS14_BROKEN_TEST_VIDEOS": "cotal.evaluate.detection",
    "THUMOS14_TIOU": "cotal.evaluate.tiou",
    "TIOU_PRESETS": "cotal.evaluate.tiou",
    "apply_mapping": "cotal.evaluate.mapping",
    "build_mapping": "cotal.evaluate.mapping",
    "clustering_metrics": "cotal.evaluate.clustering",
    "detections_to_arrays": "cotal.evaluate.formats",
    "evaluate_detections": "cotal.evaluate.detection",
    "load_ground_truth": "cotal.evaluate.run",
    "mapping_to_json": "cotal.evaluate.mapping",
    "match_video_ids": "cotal.evaluate.run",
    "per_video_map": "cotal.evaluate.detection",
    "primary_label": "cotal.evaluate.clustering",
    "read_clusters": "cotal.evaluate.formats",
    "read_detections": "cotal.evaluate.formats",
    "resolve_tiou_thresholds": "cotal.evaluate.tiou",
    "run_evaluation": "cotal.evaluate.run",
    "temporal_iou": "cotal.evaluate.tiou",
    "training_assignments": "cotal.evaluate.run",
    "validate_clusters": "cotal.evaluate.formats",
    "write_clusters": "cotal.evaluate.formats",
    "write_detections": "cotal.evaluate.formats",
}

__all__ = [
    "ACTIVITYNET_TIOU",
    "DetectionResult",
    "Evaluation",
    "GroundTruth",
    "MappedClusters",
    "THUMOS14_BROKEN_TEST_VIDEOS",
    "THUMOS14_TIOU",
    "TIOU_PRESETS",
    "apply_mapping",
    "build_mapping",
    "clustering_metrics",
    "detections_to_arrays",
    "evaluate_detections",
    "load_ground_truth",
    "mapping_to_json",
    "match_video_ids",
    "per_video_map",
    "primary_label",
    "read_clusters",
    "read_detections",
    "resolve_tiou_thresholds",
    "run_evaluation",
    "temporal_iou",
    "training_assignments",
    "validate_clusters",
    "write_clusters",
    "write_detections",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
