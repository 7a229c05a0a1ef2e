"""From raw videos to snippet features: decoding, I3D (RGB, real Kinetics-400 weights), optical flow.

Names load on first use (PEP 562): ``cotal.features.config`` and the package itself stay free of PyTorch,
PyAV and OpenCV until a name that needs them is used.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "ExtractConfig": "cotal.features.config",
    "ExtractReport": "cotal.features.extract",
    "FlowDescriptor": "cotal.features.flow",
    "FlowEstimator": "cotal.features.flow",
    "InceptionI3d": "cotal.features.i3d",
    "build_i3d": "cotal.features.weights",
    "default_rgb_weights": "cotal.features.weights",
    "extract_distributed": "cotal.features.extract",
    "extract_features": "cotal.features.extract",
    "find_videos": "cotal.features.inputs",
    "flow_to_network_input": "cotal.features.flow",
    "iter_frames": "cotal.features.video",
    "kinetics400_labels": "cotal.features.weights",
    "merge_outputs": "cotal.features.outputs",
    "probe_video": "cotal.features.video",
    "shard_ids": "cotal.features.inputs",
    "unpack_rgb_weights": "cotal.features.weights",
}

__all__ = [
    "ExtractConfig",
    "ExtractReport",
    "FlowDescriptor",
    "FlowEstimator",
    "InceptionI3d",
    "build_i3d",
    "default_rgb_weights",
    "extract_distributed",
    "extract_features",
    "find_videos",
    "flow_to_network_input",
    "iter_frames",
    "kinetics400_labels",
    "merge_outputs",
    "probe_video",
    "shard_ids",
    "unpack_rgb_weights",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
