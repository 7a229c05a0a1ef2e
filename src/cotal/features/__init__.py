"""From raw videos to snippet features: decoding, I3D (RGB, real Kinetics-400 weights), optical flow.

Heavy imports (torch, PyAV, OpenCV) happen when this package is imported; the CLI imports it lazily.
"""

from cotal.features.extract import ExtractConfig, ExtractReport, extract_features, find_videos, merge_outputs, shard_ids
from cotal.features.flow import FlowDescriptor, FlowEstimator, flow_to_network_input
from cotal.features.i3d import InceptionI3d, build_i3d, default_rgb_weights, kinetics400_labels
from cotal.features.video import iter_frames, probe_video

__all__ = [
    "ExtractConfig",
    "ExtractReport",
    "FlowDescriptor",
    "FlowEstimator",
    "InceptionI3d",
    "build_i3d",
    "default_rgb_weights",
    "extract_features",
    "find_videos",
    "flow_to_network_input",
    "iter_frames",
    "kinetics400_labels",
    "merge_outputs",
    "probe_video",
    "shard_ids",
]
