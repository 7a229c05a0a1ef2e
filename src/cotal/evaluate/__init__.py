"""Evaluation: detection mAP (ActivityNet protocol), clustering metrics, cluster-to-class mapping, file formats."""

from cotal.evaluate.clustering import clustering_metrics, primary_label
from cotal.evaluate.detection import (
    ACTIVITYNET_TIOU,
    THUMOS14_BROKEN_TEST_VIDEOS,
    THUMOS14_TIOU,
    TIOU_PRESETS,
    DetectionResult,
    evaluate_detections,
    resolve_tiou_thresholds,
)
from cotal.evaluate.formats import (
    detections_to_arrays,
    read_clusters,
    read_detections,
    validate_clusters,
    write_clusters,
    write_detections,
)
from cotal.evaluate.mapping import apply_mapping, build_mapping, mapping_to_json

__all__ = [
    "ACTIVITYNET_TIOU",
    "THUMOS14_BROKEN_TEST_VIDEOS",
    "THUMOS14_TIOU",
    "TIOU_PRESETS",
    "DetectionResult",
    "apply_mapping",
    "build_mapping",
    "clustering_metrics",
    "detections_to_arrays",
    "evaluate_detections",
    "mapping_to_json",
    "primary_label",
    "read_clusters",
    "read_detections",
    "resolve_tiou_thresholds",
    "validate_clusters",
    "write_clusters",
    "write_detections",
]
