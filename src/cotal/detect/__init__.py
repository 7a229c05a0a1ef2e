"""Detection: per-stream attention outputs -> scored temporal segments (ActivityNet result entries)."""

from cotal.detect.config import DetectConfig
from cotal.detect.detect import FusedOutput, detect, detect_video, fuse_streams, kept_classes
from cotal.detect.nms import nms, temporal_iou
from cotal.detect.proposals import contrast_scores, minmax_normalize, smooth, threshold_proposals, upsample

__all__ = [
    "DetectConfig",
    "FusedOutput",
    "contrast_scores",
    "detect",
    "detect_video",
    "fuse_streams",
    "kept_classes",
    "minmax_normalize",
    "nms",
    "smooth",
    "temporal_iou",
    "threshold_proposals",
    "upsample",
]
