"""Synthetic benchmark data: I3D-like snippet features with realistic nuisances for a real or random skeleton.

Names load on first use (PEP 562), so that importing a light submodule such as ``cotal.synth.config`` does not
pull in PyTorch or SciPy.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "BUILTIN_SKELETONS": "cotal.synth.skeleton",
    "Skeleton": "cotal.synth.skeleton",
    "StreamConfig": "cotal.synth.config",
    "SynthConfig": "cotal.synth.config",
    "SynthGenerator": "cotal.synth.features",
    "generate_features": "cotal.synth.features",
    "load_skeleton": "cotal.synth.skeleton",
    "parametric_skeleton": "cotal.synth.skeleton",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
