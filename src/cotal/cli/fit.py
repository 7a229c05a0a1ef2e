"""``cotal fit``: the whole pipeline (cluster, train co-attention rounds, detect, evaluate) into a run directory."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from cotal.cli.options import (
    MAX_CLUSTERS,
    MAX_EPOCHS,
    MAX_ROUNDS,
    MAX_STEPS,
    add_quiet,
    add_seed,
    add_streams,
    add_videos,
    int_in,
    progress_enabled,
    streams_value,
)
from cotal.config import load_config, parse_overrides
from cotal.errors import ConfigError
from cotal.utils.outdir import check_target
from cotal.utils.run import console_log
from cotal.utils.seed import check_seed


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by `fit` and `demo` that override the configuration."""
    p.add_argument(
        "--config", help="preset name (demo, thumos14, activitynet12) or YAML file; default: built-in defaults"
    )
    p.add_argument(
        "--clusters",
        type=int_in(2, MAX_CLUSTERS, auto=True),
        help="number of pseudo-classes C, or 'auto' (eigengap estimate)",
    )
    p.add_argument("--rounds", type=int_in(1, MAX_ROUNDS), help="co-attention rounds (models trained in sequence)")
    p.add_argument("--epochs", type=int_in(1, MAX_EPOCHS), help="training epochs per model")
    p.add_argument("--steps", type=int_in(1, MAX_STEPS), help="training updates per model (rounded to whole epochs)")
    p.add_argument(
        "--supervision", choices=["none", "weak"], help="none: clusters as pseudo-labels; weak: video labels"
    )
    add_seed(p, "seed of clustering, sampling and initialisation", default=None)
    add_streams(p, "default: the config's pipeline.streams")
    p.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="any config value, e.g. --set train.lr=5e-4 model.base_dim=128 --set train.epochs=10; repeatable",
    )


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Nested overrides from the dedicated flags (applied after ``--set``)."""
    over = parse_overrides(args.overrides)
    pipe = over.setdefault("pipeline", {})
    for key in ("clusters", "rounds", "supervision", "seed"):
        if getattr(args, key) is not None:
            pipe[key] = getattr(args, key)
    if args.epochs is not None:
        over.setdefault("train", {})["epochs"] = args.epochs
    streams = streams_value(args.streams)
    if streams is not None:
        pipe["streams"] = list(streams)
    return over


def steps_to_epochs(steps: int, num_videos: int, batch_size: int) -> int:
    """Whole epochs closest to ``steps`` updates (an epoch is ceil(N / batch) updates), at least 1."""
    if steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    return max(1, round(steps / math.ceil(num_videos / batch_size)))


def resolve(args: argparse.Namespace, data: str):
    """The run's Config from preset/file + flags; --steps needs the number of training videos."""
    over = config_overrides(args)
    cfg = load_config(args.config, over)
    if args.steps is not None:
        from cotal.data import FeatureDataset

        n = len(FeatureDataset(data).train_ids)
        over.setdefault("train", {})["epochs"] = steps_to_epochs(args.steps, n, cfg.train.batch_size)
        cfg = load_config(args.config, over)
    return cfg


def run(args: argparse.Namespace) -> int:
    from cotal.pipeline import fit
    from cotal.report import print_summary, write_report_html
    from cotal.train.distributed import dist_info

    cfg = resolve(args, args.data)
    check_seed(cfg.pipeline.seed, "pipeline.seed")
    dist = dist_info()
    if args.overwrite and dist.enabled:  # every rank would delete --out while the others start writing into it
        raise ConfigError("--overwrite under torchrun: delete the run directory before launching instead")
    if args.overwrite and args.config and Path(args.config).is_file():  # it would be deleted with the old run
        check_target(args.out, "run", inputs=[args.data, args.config], overwrite=True)
    with console_log(not args.quiet):
        metrics = fit(
            args.data, args.out, cfg, progress=progress_enabled(args.quiet), argv=sys.argv, overwrite=args.overwrite
        )
    if not dist.is_main:  # rank 0 holds the detection metrics and writes the report
        return 0
    print_summary(metrics)
    if not args.no_report:
        print(f"report: {write_report_html(args.out, args.data, video_dir=args.videos)}")
    print(f"run directory: {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="cluster, train co-attention rounds, detect and evaluate",
        description="Run the whole pipeline on a native-layout dataset. Resumes an interrupted run in --out.",
    )
    p.add_argument("--data", required=True, help="dataset folder (native layout)")
    p.add_argument("--out", required=True, help="run directory")
    add_config_arguments(p)
    add_quiet(p)
    p.add_argument("--overwrite", action="store_true", help="delete an earlier run in --out and start afresh")
    p.add_argument("--no-report", action="store_true", help="do not write RUN/report.html")
    add_videos(p, "the report's keyframes")
    p.set_defaults(func=run)
