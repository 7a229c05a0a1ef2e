"""Tests that need an optional extra of cotal skip where it is not installed, naming the extra.

The extras and their modules are cotal's own table (:data:`cotal.utils.deps.OPTIONAL`): "extract" (av, cv2),
"export" (onnx, onnxruntime), "scale" (faiss). Use :func:`needs_extra` as a mark (``pytestmark`` for a
whole module), or call :func:`skip_without_extra` before a module imports what needs the extra, or at the
start of a fixture.
"""

from __future__ import annotations

import importlib.util

import pytest

from cotal.utils.deps import OPTIONAL


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    modules = [m for m, (_, e) in OPTIONAL.items() if e == extra]
    if not modules:
        raise ValueError(f"cotal has no extra {extra!r}")
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _reason(extra: str, missing: list[str]) -> str:
    return f"needs the {extra!r} extra (pip install 'cotal[{extra}]'): {', '.join(missing)} not installed"


def needs_extra(extra: str) -> pytest.MarkDecorator:
    """A mark that skips its test when ``extra`` is not installed."""
    missing = missing_modules(extra)
    return pytest.mark.skipif(bool(missing), reason=_reason(extra, missing))


def skip_without_extra(extra: str) -> None:
    """Skip the calling module (at collection) or fixture when ``extra`` is not installed."""
    __tracebackhide__ = True  # the skip is reported at the caller's line
    missing = missing_modules(extra)
    if missing:
        pytest.skip(_reason(extra, missing), allow_module_level=True)
