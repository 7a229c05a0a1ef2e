"""``cotal synth``: write a synthetic benchmark dataset (features, or small rendered videos)."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from pathlib import Path

from cotal.cli.options import add_seed, positive_number
from cotal.errors import ConfigError, DataError
from cotal.synth.config import StreamConfig, SynthConfig
from cotal.synth.output import check_output_dir, staged_dir
from cotal.synth.skeleton import BUILTIN_SKELETONS
from cotal.utils.io import parse_yaml, read_json
from cotal.utils.text import short_repr

# Parametric-skeleton and size options: flag -> SynthConfig field.
_CONFIG_FLAGS = {
    "videos": "num_videos",
    "classes": "num_classes",
    "min_duration": "min_duration",
    "max_duration": "max_duration",
    "min_segments": "min_segments",
    "max_segments": "max_segments",
    "test_fraction": "test_fraction",
    "multi_label_fraction": "multi_label_fraction",
    "max_videos": "max_videos",
    "dim": "dim",
}
# --render-videos: small clips (the feature defaults would render minutes of video per clip).
RENDER_DEFAULTS = {"videos": 12, "classes": 3, "min_duration": 8.0, "max_duration": 20.0}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic dataset (I3D-like features for a real or random skeleton)",
        description="Write synthetic snippet features in the native layout (dataset.yaml, annotations.json, "
        "rgb/, flow/) for the THUMOS14 or ActivityNet-1.2 annotation skeleton, an ActivityNet-style JSON, or a "
        "random skeleton (--videos/--classes...). With --render-videos, render small synthetic video files instead.",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (must be absent or empty)")
    p.add_argument(
        "--skeleton",
        default=None,
        help="thumos14, activitynet12, random, or a path to an ActivityNet-style JSON (default: random)",
    )
    p.add_argument("--videos", type=int, help="random skeleton: number of videos (default 400)")
    p.add_argument("--classes", type=int, help="random skeleton: number of classes (default 20)")
    p.add_argument("--min-duration", type=float, help="random skeleton: shortest video in seconds (default 20)")
    p.add_argument("--max-duration", type=float, help="random skeleton: longest video in seconds (default 400)")
    p.add_argument("--min-segments", type=int, help="random skeleton: fewest action instances per video")
    p.add_argument("--max-segments", type=int, help="random skeleton: most action instances per video")
    p.add_argument("--test-fraction", type=float, help="random skeleton: share of test videos (default 0.5)")
    p.add_argument("--multi-label-fraction", type=float, help="random skeleton: share of two-class videos")
    p.add_argument("--max-videos", type=int, help="keep at most N videos (stratified by subset)")
    p.add_argument("--dim", type=int, help="feature dimension per stream (default 1024)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other SynthConfig knob, e.g. --set noise_ar=0.8 --set rgb.scene=1.2 (see docs/synth.md); repeatable",
    )
    add_seed(p, "master seed (same seed: byte-identical output)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    p.add_argument(
        "--render-videos",
        action="store_true",
        help="render small synthetic video files instead (uses --videos [12], --classes [3], --seed, "
        "--min-duration [8], --max-duration [20], --width, --height, --fps)",
    )
    p.add_argument("--width", type=int, default=160, help="--render-videos: frame width in pixels")
    p.add_argument("--height", type=int, default=120, help="--render-videos: frame height in pixels")
    p.add_argument("--fps", type=positive_number, default=25.0, help="--render-videos: frame rate")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    skeleton = None if args.skeleton in (None, "random") else args.skeleton
    check_output_dir(args.out, args.overwrite, [] if skeleton in (None, *BUILTIN_SKELETONS) else [skeleton])
    if args.render_videos:
        return _render(args)
    from cotal.synth.features import generate_features

    overrides = {field: getattr(args, flag) for flag, field in _CONFIG_FLAGS.items() if getattr(args, flag) is not None}
    config = config_with_overrides(SynthConfig(**overrides), args.set)
    out = generate_features(args.out, skeleton=skeleton, config=config, seed=args.seed, overwrite=args.overwrite)
    info = read_json(out / "synth.json")
    print(
        f"wrote {info['num_videos']} videos ({info['num_snippets']} snippets, dim {config.dim}) to {out} "
        f"(skeleton {info['skeleton']}, seed {args.seed}; segments clipped to the duration: "
        f"{info['clipped_segments']}, dropped as empty: {info['dropped_segments']})"
    )
    return 0


def config_with_overrides(config: SynthConfig, items: list[str]) -> SynthConfig:
    """Apply ``KEY=VALUE`` strings (values parsed as YAML scalars; ``rgb.KEY``/``flow.KEY`` for a stream)."""
    top: dict[str, object] = {}
    streams: dict[str, dict[str, object]] = {"rgb": {}, "flow": {}}
    known = {f.name for f in fields(SynthConfig)} - set(streams)
    stream_keys = {f.name for f in fields(StreamConfig)}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = parse_yaml(raw, f"--set {short_repr(item)}")
        except DataError as e:
            raise ConfigError(str(e)) from None
        stream, dot, sub = key.partition(".")
        if dot and stream in streams and sub in stream_keys:
            streams[stream][sub] = value
        elif not dot and key in known:
            top[key] = value
        else:
            raise ConfigError(
                f"--set {item!r}: unknown knob {key!r}; use a SynthConfig field or rgb.<field> / flow.<field> "
                f"with <field> one of {', '.join(sorted(stream_keys))}"
            )
    try:
        return replace(
            config,
            **top,
            rgb=replace(config.rgb, **streams["rgb"]),
            flow=replace(config.flow, **streams["flow"]),
        )
    except TypeError as e:  # a value of the wrong type reaching a comparison in validation
        raise ConfigError(f"--set: invalid value ({e})") from None


def _render(args: argparse.Namespace) -> int:
    """Render synthetic videos into a staged folder that replaces ``--out`` once complete."""
    from cotal.synth.videos import render_video_dataset  # lazy: another module, heavier dependencies

    with staged_dir(args.out, args.overwrite) as tmp:
        render_video_dataset(
            tmp,
            num_videos=_or(args.videos, RENDER_DEFAULTS["videos"]),
            num_classes=_or(args.classes, RENDER_DEFAULTS["classes"]),
            seed=args.seed,
            width=args.width,
            height=args.height,
            fps=args.fps,
            min_duration=_or(args.min_duration, RENDER_DEFAULTS["min_duration"]),
            max_duration=_or(args.max_duration, RENDER_DEFAULTS["max_duration"]),
        )
    print(f"wrote synthetic videos to {args.out} (seed {args.seed})")
    return 0


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
