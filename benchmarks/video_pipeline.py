"""From pixels to mAP: render synthetic videos, extract features, then `cotal fit` (cluster, train, detect, eval).

The videos' classes are motion patterns (see ``cotal.synth.videos``); the ground truth is copied into the
feature dataset so that `cotal fit` can report clustering quality and detection mAP on the test videos
(training itself never sees the labels).

    .venv/bin/python benchmarks/video_pipeline.py --out /tmp/video_pipeline [--videos 48] [--classes 4]
        [--size 112] [--streams rgb,flow] [--skip-fit]

Every stage resumes: rerunning the command reuses the rendered videos and the extracted features.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cotal.features import ExtractConfig, extract_features
from cotal.synth.videos import render_video_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-duration", type=float, default=8.0)
    parser.add_argument("--max-duration", type=float, default=20.0)
    parser.add_argument("--size", type=int, default=112, help="extraction crop (112 is ~4x faster than 224)")
    parser.add_argument("--streams", default="rgb,flow")
    parser.add_argument("--config", default="demo", help="`cotal fit` preset")
    parser.add_argument("--skip-fit", action="store_true", help="stop after extraction")
    args = parser.parse_args()

    videos_dir, feats, run = args.out / "videos", args.out / "features", args.out / "run"
    t0 = time.perf_counter()
    if not (videos_dir / "annotations.json").exists():
        render_video_dataset(
            videos_dir,
            num_videos=args.videos,
            num_classes=args.classes,
            seed=args.seed,
            min_duration=args.min_duration,
            max_duration=args.max_duration,
        )
    t_render = time.perf_counter() - t0
    print(f"rendered {args.videos} videos ({args.classes} classes) in {t_render:.1f}s -> {videos_dir}", flush=True)

    cfg = ExtractConfig(
        size=args.size,
        streams=tuple(args.streams.split(",")),
        annotations=str(videos_dir / "annotations.json"),
        train_subset="validation",
        test_subset="test",
        name="synthetic-videos",
    )
    report = extract_features([videos_dir / "videos"], feats, cfg)
    print(f"extract: {report.summary()}", flush=True)
    if not report.ok:
        return 1
    if args.skip_fit:
        return 0

    from cotal.cli.main import main as cotal_main

    argv = ["fit", "--data", str(feats), "--out", str(run), "--config", args.config, "--clusters", str(args.classes)]
    print("running: cotal " + " ".join(argv), flush=True)
    t1 = time.perf_counter()
    rc = cotal_main(argv)
    print(f"fit + eval: {time.perf_counter() - t1:.1f}s (exit {rc})")
    metrics = run / "metrics.json"
    if metrics.exists():
        summary = json.loads(metrics.read_text())
        print(json.dumps({k: summary[k] for k in ("rounds", "detection") if k in summary}, indent=1)[:4000])
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
