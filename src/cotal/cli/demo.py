"""``cotal demo``: generate a small benchmark set, run the unsupervised and weakly supervised pipelines, report."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from cotal.cli.options import add_quiet, progress_enabled
from cotal.errors import ConfigError
from cotal.utils.io import read_json, write_json
from cotal.utils.run import console_log

OPTIONS_FILE = "demo.json"  # the options a demo folder was made with


def prepare_folder(out: Path, options: dict, overwrite: bool) -> None:
    """Make ``out`` hold nothing made with other options: refuse (or, with ``overwrite``, clear) such a folder."""
    recorded = out / OPTIONS_FILE
    if out.exists() and any(out.iterdir()):
        before = read_json(recorded) if recorded.is_file() else None
        if before != options:
            if not overwrite:
                what = (
                    ", ".join(f"--{k} {before.get(k)} there, {v} now" for k, v in options.items() if before.get(k) != v)
                    if isinstance(before, dict)
                    else "no record of its options"
                )
                raise ConfigError(
                    f"{out}: holds a demo made with other options ({what}); pass --overwrite or another --out"
                )
            if before is None and not (out / "data" / "dataset.yaml").is_file():
                raise ConfigError(f"{out}: not a cotal demo folder; refusing to delete it for --overwrite")
            shutil.rmtree(out)
    write_json(recorded, options)


def run(args: argparse.Namespace) -> int:
    from cotal.config import load_config
    from cotal.pipeline import fit
    from cotal.report import print_summary, write_report_html
    from cotal.synth import SynthConfig, generate_features

    out = Path(args.out)
    data = out / "data"
    t0 = time.perf_counter()
    prepare_folder(
        out, {"videos": args.videos, "classes": args.classes, "dim": args.dim, "seed": args.seed}, args.overwrite
    )
    if not (data / "annotations.json").exists():
        synth = SynthConfig(
            dim=args.dim,
            num_videos=args.videos,
            num_classes=args.classes,
            min_duration=20.0,
            max_duration=90.0,
            max_segments=4,
            max_segment_length=12.0,
        )
        generate_features(data, skeleton=None, config=synth, seed=args.seed)
        print(f"benchmark data: {args.videos} videos, {args.classes} classes, {args.dim}-d rgb + flow -> {data}")
    for supervision in ("none", "weak"):
        cfg = load_config(
            "demo", {"pipeline": {"supervision": supervision, "clusters": args.classes, "seed": args.seed}}
        )
        run_dir = out / ("unsupervised" if supervision == "none" else "weakly_supervised")
        print(f"\n== {'unsupervised' if supervision == 'none' else 'weakly supervised'} -> {run_dir}")
        with console_log(not args.quiet):
            metrics = fit(data, run_dir, cfg, progress=progress_enabled(args.quiet), argv=sys.argv)
        print_summary(metrics)
        print(f"report: {write_report_html(run_dir, data)}")
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="small end-to-end run on generated data (fit, detect, evaluate, report)",
        description=__doc__,
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--videos", type=int, default=200, help="videos to generate (half train, half test)")
    p.add_argument("--classes", type=int, default=8, help="action classes (= clusters)")
    p.add_argument("--dim", type=int, default=256, help="feature dimension per stream")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace a demo in --out made with other options")
    add_quiet(p)
    p.set_defaults(func=run)
