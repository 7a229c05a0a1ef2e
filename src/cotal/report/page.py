"""The whole report: the run read, its sections in order, one self-contained HTML file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cotal.report.data import final_outputs, read_run
from cotal.report.figures import class_colors, use_agg
from cotal.report.html import esc, write_page
from cotal.report.sections import (
    cluster_section,
    context_section,
    curves_section,
    detection_section,
    rounds_section,
    timelines_section,
)


def write_report_html(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    videos: Sequence[str] = (),
    per_end: int = 2,
    out: str | os.PathLike | None = None,
) -> Path:
    """Write the run's report (default ``RUN/report.html``); :mod:`cotal.report` lists what it shows.

    Args:
        run_dir: a finished ``cotal fit`` run directory.
        data: the dataset it was fitted on (default: the one recorded in ``run.json``).
        videos: test video ids drawn first; then the ``per_end`` best and worst by AP.
        out: where to write the page.
    Raises:
        DataError: not a finished run, the dataset cannot be found, or an unknown video id.
    """
    use_agg()
    run = read_run(run_dir, data, videos)
    colors = class_colors(sorted(set(run.class_names) | set(run.dataset.classes)))

    parts = [f"<h1>cotal run {esc(run.root.name)}</h1>"]
    parts += context_section(run)
    if run.metrics.get("rounds"):
        parts += rounds_section(run.metrics["rounds"])
    parts += curves_section(run.layout)
    if run.metrics.get("detection"):
        parts += detection_section(run.metrics["detection"])
    if run.assignments:
        parts += cluster_section(run, run.assignments)
    outputs = final_outputs(run.layout, run.final)
    if run.detections and outputs:
        parts += timelines_section(run, outputs, colors, videos, per_end)
    path = Path(out) if out is not None else run.layout.report
    write_page(path, f"cotal report: {run.root.name}", parts)
    return path
