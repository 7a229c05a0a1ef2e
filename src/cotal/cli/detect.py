"""``cotal detect``: detections of a finished run's model(s) on any videos, labelled or not."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from cotal.detect.labels import class_names, cluster_names
    from cotal.errors import ConfigError, DataError
    from cotal.evaluate import write_detections
    from cotal.pipeline import detect_run
    from cotal.utils.io import read_json
    from cotal.utils.outdir import check_output_file
    from cotal.utils.run import RunLayout

    check_output_file(args.out, [args.run, args.data], overwrite=args.overwrite)
    path = RunLayout(args.run).final
    final = read_json(path) if path.exists() else {}
    if not isinstance(final, dict):
        raise DataError(f"{path}: malformed; expected an object with 'models' and 'class_names'")
    unsupervised = final.get("supervision") == "none"
    if args.labels is not None and final and not unsupervised:
        raise ConfigError(f"{args.run}: a weakly supervised run already labels detections with classes; drop --labels")
    detections = detect_run(args.run, args.data, subset=args.subset, video_ids=args.video_ids)
    if args.labels in (None, "clusters") and unsupervised:
        detections = cluster_names(detections, len(final["class_names"]))
    elif args.labels == "classes" and unsupervised:
        detections, dropped = class_names(detections, args.run, method=args.mapping)
        if dropped:
            print(f"clusters mapped to no class (their detections left out): {', '.join(map(str, dropped))}")
    write_detections(args.out, detections)
    n = sum(len(v) for v in detections.values())
    print(f"{n} detections in {len(detections)} videos -> {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    p = sub.add_parser("detect", help="detect actions with a trained run", description=__doc__)
    p.add_argument("--run", required=True, type=Path, help="run directory written by `cotal fit`")
    p.add_argument("--data", required=True, help="dataset folder with the videos' features")
    p.add_argument("--subset", help="only videos of this subset (default: every video)")
    p.add_argument("--video-ids", nargs="+", metavar="VIDEO", help="only these video ids")
    p.add_argument(
        "--labels",
        choices=("clusters", "classes"),
        help="unsupervised runs: cluster names cluster_00.. (default), or class names through the mapping built "
        "from the run's training videos and their ground truth",
    )
    p.add_argument(
        "--mapping", choices=("soft", "hungarian"), default="soft", help="cluster-to-class rule for --labels classes"
    )
    p.add_argument("--out", required=True, help="detections JSON (ActivityNet results format)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)
