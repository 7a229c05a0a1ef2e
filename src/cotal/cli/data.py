"""``cotal data``: convert published feature layouts, check a dataset, summarise it, split it, build ``motions``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cotal.cli.options import MAX_FEATURE_DIM, add_seed, int_in, positive_number
from cotal.data.check import check_dataset
from cotal.data.convert import convert_dataset
from cotal.data.info import dataset_info, format_info
from cotal.data.readers import LAYOUTS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="convert, check and summarise feature datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "convert", help="convert a W-TALC, UM/BaS-Net or ActionFormer feature layout to the native layout"
    )
    p.add_argument("src", help="source folder (or the W-TALC *-JOINTFeatures.npy file)")
    p.add_argument("--layout", required=True, choices=LAYOUTS, help="layout of SRC (see docs/data.md)")
    p.add_argument("--out", required=True, help="output folder (created; must be absent or empty)")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="allow reading pickled W-TALC files (unpickling can run code: use only files you trust)",
    )
    p.add_argument(
        "--fps", type=positive_number, help="frame rate of the snippets (default 25; actionformer: the JSON's fps)"
    )
    p.add_argument(
        "--stride", type=positive_number, help="frames between snippets (default 16; actionformer: feat_stride)"
    )
    p.add_argument("--window", type=positive_number, help="actionformer: frames per feature (num_frames), e.g. 16")
    p.add_argument(
        "--annotations", metavar="JSON", help="actionformer: the annotation JSON (default: annotations/*.json)"
    )
    p.add_argument("--features", metavar="DIR", help="actionformer: the folder of <video>.npy (default: the only one)")
    p.add_argument(
        "--rgb-dim",
        type=int_in(1, MAX_FEATURE_DIM),
        metavar="N",
        help="actionformer: joint features are RGB dims [0, N) then flow (default: half); N = D keeps one stream",
    )
    p.add_argument("--train-subset", help="subset to train on (default: inferred, e.g. THUMOS14 'validation')")
    p.add_argument("--test-subset", help="subset to evaluate (default: inferred, e.g. THUMOS14 'test')")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT once the new one is complete")
    p.set_defaults(func=run_convert)

    p = sub.add_parser("check", help="list every problem of a native dataset; exit 1 if any")
    p.add_argument("dir", help="dataset folder")
    p.add_argument("--no-scan", action="store_true", help="skip the NaN/Inf scan of feature values")
    p.set_defaults(func=run_check)

    p = sub.add_parser("info", help="statistics of a native dataset")
    p.add_argument("dir", help="dataset folder")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_info)

    p = sub.add_parser(
        "split", help="hold out part of the training videos as a validation set (for choosing hyperparameters)"
    )
    p.add_argument("dir", help="native dataset folder")
    p.add_argument("--out", required=True, help="new folder: train subset 'fit', test subset 'val'")
    p.add_argument("--fraction", type=float, default=0.2, help="share of training videos held out (default 0.2)")
    add_seed(p, "split seed (default 0)")
    p.set_defaults(func=run_split)

    p = sub.add_parser(
        "motions",
        help="build the motions dataset: real smartwatch recordings (BasicMotions) stitched into untrimmed sequences",
        description="Stitch the BasicMotions recordings of the UEA archive (as shipped by sktime: pip install "
        "'cotal[motions]') into untrimmed sequences with one action class each, in the native layout (see "
        "docs/data.md). The same --seed and --copies write the same bytes.",
    )
    p.add_argument("--out", required=True, help="output folder (must be absent or empty)")
    p.add_argument("--seed", type=int, default=0, help="stitching seed (default 0)")
    p.add_argument("--copies", type=int, default=3, help="sequences made from each action recording (default 3)")
    p.add_argument(
        "--background",
        choices=("mixed", "one"),
        default="mixed",
        help="background pieces from random Standing recordings (mixed, default) or one per sequence (one)",
    )
    p.add_argument(
        "--source", metavar="DIR", help="folder of BasicMotions_TRAIN.ts and _TEST.ts (default: sktime's copy)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT once the new one is complete")
    p.set_defaults(func=run_motions)


def run_convert(args: argparse.Namespace) -> int:
    options = {
        "fps": args.fps,
        "stride": args.stride,
        "window": args.window,
        "annotations": args.annotations,
        "features": args.features,
        "rgb_dim": args.rgb_dim,
        "train_subset": args.train_subset,
        "test_subset": args.test_subset,
    }
    if args.allow_pickle:
        options["allow_pickle"] = True
    report = convert_dataset(args.src, args.out, args.layout, overwrite=args.overwrite, **options)
    print(f"wrote {report.videos} videos ({'+'.join(report.streams)}) to {report.out}")
    if report.dropped:
        shown = ", ".join(report.dropped[:5]) + (", ..." if len(report.dropped) > 5 else "")
        print(f"left out {len(report.dropped)} annotated videos without features: {shown}")
    problems = check_dataset(report.out, scan_values=False)
    if problems:
        print(f"note: `cotal data check {report.out}` reports {len(problems)} problem(s) in the source data")
    return 0


def run_check(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    problems = check_dataset(args.dir, scan_values=not args.no_scan)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.dir}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    info = dataset_info(args.dir)
    videos = sum(info["videos"].values())
    print(
        f"{args.dir}: OK ({videos} videos, streams {'+'.join(info['feature_dims'])}, "
        f"{info['snippets']['total']} snippets, checked in {time.perf_counter() - start:.1f} s)"
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    info = dataset_info(args.dir)
    print(json.dumps(info, indent=1) if args.json else format_info(info))
    return 0


def run_split(args: argparse.Namespace) -> int:
    from cotal.data.split import make_validation_split

    out = make_validation_split(args.dir, args.out, fraction=args.fraction, seed=args.seed)
    print(f"validation split of {args.dir} -> {out} (subsets 'fit' and 'val')")
    return 0


def run_motions(args: argparse.Namespace) -> int:
    from cotal.data.motions import make_motions

    report = make_motions(
        args.out,
        seed=args.seed,
        copies=args.copies,
        background=args.background,
        source=args.source,
        overwrite=args.overwrite,
    )
    counts = ", ".join(f"{n} {subset}" for subset, n in report.videos.items())
    print(f"wrote {sum(report.videos.values())} sequences ({counts}; rgb+flow, {report.dim}-d) to {report.out}")
    return 0
