"""Optional dependencies: import them where needed, or fail in one line that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from cotal.errors import ConfigError

# module -> (pip package, cotal extra)
OPTIONAL = {
    "av": ("av", "extract"),
    "cv2": ("opencv-python-headless", "extract"),
    "faiss": ("faiss-cpu", "scale"),
    "onnx": ("onnx", "export"),
    "onnxruntime": ("onnxruntime", "export"),
}


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional ``module`` or raise :class:`ConfigError` saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = OPTIONAL[module]
        raise ConfigError(f"{purpose} needs the {package} package: pip install 'cotal[{extra}]'") from None
