"""The temporal co-attention localization model and its losses.

Names load on first use (PEP 562), so that importing a light submodule such as ``cotal.model.config`` does not
pull in PyTorch or SciPy.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "CoAttentionLoss": "cotal.model.losses",
    "CoAttentionModel": "cotal.model.coattention",
    "CoAttentionOutput": "cotal.model.coattention",
    "LossConfig": "cotal.model.config",
    "ModelConfig": "cotal.model.config",
    "StreamModels": "cotal.model.coattention",
}

__all__ = [
    "CoAttentionLoss",
    "CoAttentionModel",
    "CoAttentionOutput",
    "LossConfig",
    "ModelConfig",
    "StreamModels",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
