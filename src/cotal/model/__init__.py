"""The temporal co-attention localization model, its losses and its files.

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
    "MODEL_FORMAT": "cotal.model.io",
    "ModelConfig": "cotal.model.config",
    "OUTPUT_KEYS": "cotal.model.outputs",
    "VideoOutput": "cotal.model.outputs",
    "load_model": "cotal.model.io",
    "save_model": "cotal.model.io",
}

__all__ = [
    "CoAttentionLoss",
    "CoAttentionModel",
    "CoAttentionOutput",
    "LossConfig",
    "MODEL_FORMAT",
    "ModelConfig",
    "OUTPUT_KEYS",
    "VideoOutput",
    "load_model",
    "save_model",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
