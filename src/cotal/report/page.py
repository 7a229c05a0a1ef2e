"""The whole report: the run read, its sections in order, one self-contained HTML file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cotal.report.data import RunRecord, dataset_of, final_outputs, read_run, require_finished
from cotal.report.figures import class_colors, plain_text
from cotal.report.html import esc, write_page
from cotal.report.sections import (
    choices_section,
    cluster_section,
    context_section,
    curves_section,
    detection_section,
    rounds_section,
    timelines_section,
)
from cotal.utils.outdir import check_output_file, locked


def write_report_html(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    videos: Sequence[str] = (),
    per_end: int = 2,
    out: str | os.PathLike | None = None,
    video_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the run's report (default ``RUN/report.html``); :mod:`cotal.report` lists what it shows.

    The run is locked while it is read (:func:`cotal.utils.outdir.locked`; shared when the page goes elsewhere).

    Args:
        run_dir: a finished ``cotal fit`` run directory.
        data: the dataset it was fitted on (default: the one recorded in ``run.json``); it must have the content
            ``RUN/data.json`` records.
        videos: test video ids drawn first; then the ``per_end`` best and worst by AP.
        out: where to write the page: ``RUN/report.html`` (the run's own, replaced), or a file that is none of the
            inputs nor inside them, and an existing one only with ``overwrite``.
        video_dir: the folder holding the video files (``--videos``); keyframes come only from files inside it,
            and there are none without it.
    Raises:
        DataError: not a finished run, a malformed run file, the dataset cannot be found, or an unknown video id.
        ConfigError: ``out`` would replace an input or a file cotal did not write, the dataset is not the run's,
            or another cotal process is writing the run.
    """
    layout = require_finished(run_dir)
    own = out is None or Path(out).resolve() == layout.report.resolve()
    path = layout.report if own else Path(out)
    if not own:
        check_output_file(path, [run_dir, dataset_of(layout, data), video_dir], overwrite=overwrite)
    inside = own or layout.root.resolve() in path.resolve().parents
    with locked(layout.root, shared=not inside):
        run = read_run(run_dir, data, videos, video_dir)
        with plain_text():
            parts = _sections(run, videos, per_end)
        write_page(path, f"cotal report: {run.root.name}", parts)
    return path


def _sections(run: RunRecord, videos: Sequence[str], per_end: int) -> list[str]:
    """The page's HTML parts, in order."""
    colors = class_colors(sorted(set(run.class_names) | set(run.dataset.classes)))
    parts = [f"<h1>cotal run {esc(run.root.name)}</h1>"]
    parts += context_section(run)
    if run.metrics.get("rounds"):
        parts += choices_section(run)
        parts += rounds_section(run.metrics["rounds"])
    parts += curves_section(run.layout)
    if run.metrics.get("detection"):
        parts += detection_section(run.metrics["detection"])
    if run.assignments:
        parts += cluster_section(run, run.assignments)
    outputs = final_outputs(run.layout, run.final)
    if run.detections and outputs:
        parts += timelines_section(run, outputs, colors, videos, per_end)
    return parts
