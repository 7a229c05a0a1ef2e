"""Optional dependencies: import them where needed, or fail in one line that names the extra to install."""

from __future__ import annotations

import importlib
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType

from cotal.errors import ConfigError

# module -> (pip package, cotal extra)
OPTIONAL = {
    "av": ("av", "extract"),
    "cv2": ("opencv-python-headless", "extract"),
    "faiss": ("faiss-cpu", "scale"),
    "onnx": ("onnx", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "sktime": ("sktime", "motions"),
}


def _missing(module: str, purpose: str) -> ConfigError:
    package, extra = OPTIONAL[module]
    return ConfigError(f"{purpose} needs the {package} package: pip install 'cotal[{extra}]'")


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional ``module`` or raise :class:`ConfigError` saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, purpose) from None


def require_dir(module: str, purpose: str) -> Path:
    """The folder of an optional package found without importing it (for its data files only, when importing
    would load its own dependencies), or :class:`ConfigError` saying which extra provides it."""
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise _missing(module, purpose)
    return Path(next(iter(spec.submodule_search_locations)))
