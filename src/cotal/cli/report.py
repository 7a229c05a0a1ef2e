"""``cotal report``: write a run's self-contained ``report.html`` (again, or for other videos)."""

from __future__ import annotations

import argparse

from cotal.cli.options import add_videos, int_in

# Timelines are drawn for the N best and N worst test videos; each is a figure of its own.
MAX_BEST_WORST = 100


def run(args: argparse.Namespace) -> int:
    from cotal.report import write_report_html

    path = write_report_html(
        args.run,
        args.data,
        videos=args.video_ids or (),
        per_end=args.best_worst,
        out=args.out,
        video_dir=args.videos,
        overwrite=args.overwrite,
    )
    print(f"report: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a run's report.html (context, curves, AP, clusters, timelines)",
        description="Write the self-contained, offline report of a finished `cotal fit` run.",
    )
    p.add_argument("run", help="run directory written by `cotal fit`")
    p.add_argument("--data", help="dataset folder (default: the one recorded in RUN/run.json)")
    p.add_argument("--video-ids", nargs="+", metavar="VIDEO", help="test videos to draw first")
    p.add_argument(
        "--best-worst",
        type=int_in(1, MAX_BEST_WORST),
        default=2,
        metavar="N",
        help="also draw the N best and N worst videos by AP",
    )
    add_videos(p, "keyframes")
    p.add_argument("--out", help="output file (default: RUN/report.html)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)
