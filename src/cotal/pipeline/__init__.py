"""The whole method end to end (docs/method.md §7): cluster -> train -> re-pool and re-cluster -> detect -> evaluate.

:func:`fit` runs it into a run directory (``cotal fit``), :func:`detect_run` runs a finished run on other videos
(``cotal detect``), and :class:`Pipeline` holds the stages, each callable alone. The rounds are in
:mod:`cotal.pipeline.rounds`, the choice of the final round in :mod:`cotal.pipeline.selection`.

Names load on first use (PEP 562).
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "Pipeline": "cotal.pipeline.stages",
    "RunResult": "cotal.pipeline.rounds",
    "detect_outputs": "cotal.pipeline.stages",
    "detect_run": "cotal.pipeline.runner",
    "fit": "cotal.pipeline.runner",
}

__all__ = ["Pipeline", "RunResult", "detect_outputs", "detect_run", "fit"]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
