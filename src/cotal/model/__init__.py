"""The temporal co-attention localization model and its losses.

Names load on first use (PEP 562), so that importing a light submodule such as ``cotal.model.config`` does not
pull in PyTorch or SciPy.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_SOURCES[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
