"""Human-readable results of a run: the console tables ``cotal fit`` and ``cotal demo`` print, and a
self-contained, offline ``report.html``.

The page is one file: plots are PNGs embedded as ``data:`` URIs, styles are inline, there is no script and no
external resource (a Content-Security-Policy forbids any). Sections: run context, label-free per-round signals,
training curves of every model, detection AP per class and tIoU, clusters (cluster-to-class matrix when labels
exist; always size, members and top-scored detections), and per-video timelines. When the features came from
``cotal extract`` (``DATA/.parts/<video>.json`` names the video file) and that file lies in the folder the caller
names (``video_dir``, ``--videos``), timelines get a filmstrip of keyframes and clusters get thumbnails of their
top detections.

The report goes data -> figures -> HTML: :mod:`~cotal.report.data` reads the run (types checked by
:mod:`~cotal.report.records`) and chooses the videos,
:mod:`~cotal.report.video` finds video files and decodes keyframes, :mod:`~cotal.report.figures` draws with
matplotlib, :mod:`~cotal.report.html` and :mod:`~cotal.report.sections` write the markup and
:mod:`~cotal.report.page` puts the page together; :mod:`~cotal.report.console` holds the text tables.

Names load on first use (PEP 562), so that the command line's parser imports none of this.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "CLUSTER_KEYS": "cotal.report.records",
    "ROUND_SIGNALS": "cotal.report.data",
    "choose_videos": "cotal.report.data",
    "clustering_table": "cotal.report.console",
    "keyframes": "cotal.report.video",
    "map_table": "cotal.report.console",
    "print_summary": "cotal.report.console",
    "read_train_log": "cotal.report.data",
    "timings_table": "cotal.report.console",
    "video_sources": "cotal.report.video",
    "write_report_html": "cotal.report.page",
}

__all__ = [
    "CLUSTER_KEYS",
    "ROUND_SIGNALS",
    "choose_videos",
    "clustering_table",
    "keyframes",
    "map_table",
    "print_summary",
    "read_train_log",
    "timings_table",
    "video_sources",
    "write_report_html",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
