"""Synthetic benchmark data: I3D-like snippet features with realistic nuisances for a real or random skeleton."""

from cotal.synth.config import StreamConfig, SynthConfig
from cotal.synth.features import SynthGenerator, generate_features
from cotal.synth.skeleton import BUILTIN_SKELETONS, Skeleton, load_skeleton, parametric_skeleton

__all__ = [
    "BUILTIN_SKELETONS",
    "Skeleton",
    "StreamConfig",
    "SynthConfig",
    "SynthGenerator",
    "generate_features",
    "load_skeleton",
    "parametric_skeleton",
]
