"""``cotal demo``: generate a small benchmark set, run the unsupervised and weakly supervised pipelines, report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cotal.cli.options import add_quiet, add_seed, progress_enabled
from cotal.errors import ConfigError
from cotal.utils.io import read_json, write_json
from cotal.utils.marker import DEMO_OPTIONS, LOCK, clear_folder, write_marker
from cotal.utils.outdir import check_target, locked, refuse_deletion
from cotal.utils.run import console_log


def needs_clearing(out: Path, options: dict, overwrite: bool) -> bool:
    """Whether ``out`` holds a demo made with other options that ``overwrite`` may clear; refuses (ConfigError)
    such a folder without ``overwrite``, or one holding anything cotal did not make. Writes nothing."""
    if not out.is_dir() or not any(p.name != LOCK for p in out.iterdir()):
        return False
    recorded = out / DEMO_OPTIONS
    before = read_json(recorded) if recorded.is_file() else None
    if before == options:
        return False
    if not overwrite:
        what = (
            ", ".join(f"--{k} {before.get(k)} there, {v} now" for k, v in options.items() if before.get(k) != v)
            if isinstance(before, dict)
            else "no record of its options"
        )
        raise ConfigError(f"{out}: holds a demo made with other options ({what}); pass --overwrite or another --out")
    refuse_deletion(out, "demo")
    return True


def prepare_folder(out: Path, options: dict, overwrite: bool) -> None:
    """Make ``out`` hold nothing made with other options: refuse (or, with ``overwrite``, clear) such a folder.

    Call with ``out`` locked. Only a demo folder that holds nothing but what cotal made is cleared.
    """
    if needs_clearing(out, options, overwrite):
        clear_folder(out)
    write_marker(out, "demo")
    write_json(out / DEMO_OPTIONS, options)


def run(args: argparse.Namespace) -> int:
    check_target(args.out, "demo")
    out = Path(args.out)
    data = out / "data"
    t0 = time.perf_counter()
    options = {"videos": args.videos, "classes": args.classes, "dim": args.dim, "seed": args.seed}
    needs_clearing(out, options, args.overwrite)  # refused before the lock file is made
    with locked(out):
        prepare_folder(out, options, args.overwrite)
        _run_demo(args, out, data)
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def _run_demo(args: argparse.Namespace, out: Path, data: Path) -> None:
    """Generate the data (unless there from an earlier call with the same options), fit both runs, report."""
    from cotal.config import load_config
    from cotal.pipeline import fit
    from cotal.report import print_summary, write_report_html
    from cotal.synth import SynthConfig, generate_features

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
    add_seed(p, "seed of the data and both runs (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a demo in --out made with other options")
    add_quiet(p)
    p.set_defaults(func=run)
