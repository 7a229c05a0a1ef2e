"""``cotal detect``: detections of a finished run's model(s) on any videos, labelled or not."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from cotal.evaluate import write_detections
    from cotal.pipeline import detect_run
    from cotal.utils.outdir import check_output_file

    check_output_file(args.out, [args.run, args.data])
    detections = detect_run(args.run, args.data, subset=args.subset, video_ids=args.videos)
    write_detections(args.out, detections)
    n = sum(len(v) for v in detections.values())
    print(f"{n} detections in {len(detections)} videos -> {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect actions with a trained run", description=__doc__)
    p.add_argument("--run", required=True, help="run directory written by `cotal fit`")
    p.add_argument("--data", required=True, help="dataset folder with the videos' features")
    p.add_argument("--subset", help="only videos of this subset (default: every video)")
    p.add_argument("--videos", nargs="+", help="only these video ids")
    p.add_argument("--out", required=True, help="detections JSON (ActivityNet results format)")
    p.set_defaults(func=run)
