"""Speed of cotal.detect on a THUMOS14-size synthetic input (and, when cotal.evaluate exists, its mAP).

The input mimics the trainer's export for the THUMOS14 test videos of the bundled annotation skeleton (real
durations and ground truth, 20 classes, T = duration x 25 / 16 snippets): per stream, the class activation A is
noise plus a bump over every ground-truth segment of its class (blurred, jittered edges, a few false bumps),
S is a softmax of the same bumps, and the video probabilities favour the ground-truth classes. It is a toy: the
mAP figures compare detection settings with each other, not with the paper.

Run: .venv/bin/python benchmarks/detect_speed.py [--videos N] [--seed S]
"""

from __future__ import annotations

import argparse
import importlib.resources
import time

import numpy as np
from scipy.special import expit

from cotal.data import SnippetTiming, load_annotations
from cotal.detect import DetectConfig, detect
from cotal.model.outputs import VideoOutput


def synthetic_outputs(annotations, video_ids, classes, timing, rng, streams=("rgb", "flow")):
    """stream -> vid -> VideoOutput (cas (T, C), attention (T,), probs (C,)) with planted actions."""
    out = {s: {} for s in streams}
    index = {c: i for i, c in enumerate(classes)}
    for vid in video_ids:
        ann = annotations[vid]
        num = max(timing.expected_snippets(ann.duration), 1)
        t = np.arange(num) + 0.5
        present = np.zeros(len(classes), dtype=bool)
        truth = np.zeros((num, len(classes)))
        for (s, e), label in zip(ann.segments, ann.labels, strict=True):
            c = index[label]
            present[c] = True
            s_i, e_i = timing.to_index(s) + rng.normal(0, 0.5), timing.to_index(e) + rng.normal(0, 0.5)
            # Soft-edged box: logistic ramps of ~1 snippet at each end.
            truth[:, c] += expit((t - s_i) * 2) * expit((e_i - t) * 2)
        for _ in range(2):  # false bumps in random classes
            c, at = rng.integers(len(classes)), rng.integers(num)
            truth[max(0, at - 3) : at + 3, c] += 0.6
        for stream in streams:
            cas = 3 * truth + rng.normal(0, 0.6, size=truth.shape)
            att_logit = 2 * truth.max(axis=1) + rng.normal(0, 0.3, size=num)
            att = np.exp(att_logit - att_logit.max())
            logits = 4 * present + rng.normal(0, 1.0, size=len(classes))
            probs = np.exp(logits - logits.max())
            out[stream][vid] = VideoOutput(cas, att / att.sum(), probs / probs.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=None, help="use only the first N test videos")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    skeleton = importlib.resources.files("cotal.data") / "skeletons" / "thumos14.json"
    annotations = load_annotations(str(skeleton))
    classes = annotations.classes
    video_ids = [v for v in annotations.ids("test") if len(annotations[v].segments)][: args.videos]
    timing = SnippetTiming(fps=25.0, stride=16.0)
    outputs = synthetic_outputs(annotations, video_ids, classes, timing, np.random.default_rng(args.seed))
    durations = {v: annotations[v].duration for v in video_ids}
    lengths = [outputs["rgb"][v].num_snippets for v in video_ids]
    print(f"{len(video_ids)} videos, C={len(classes)}, T mean {np.mean(lengths):.0f} max {max(lengths)}")

    try:
        from cotal.evaluate import evaluate_detections
    except ImportError:
        evaluate_detections = None

    settings = {
        "default (frame, hard NMS)": DetectConfig(),
        "snippet resolution": DetectConfig(resolution="snippet"),
        "frame, start alignment": DetectConfig(frame_alignment="start"),
        "frame, cas x attention": DetectConfig(activation="cas_x_attention"),
        "frame, smooth_window=49": DetectConfig(smooth_window=49),
        "frame, no smoothing": DetectConfig(smooth_window=0),
        "frame, no smoothing/dilation": DetectConfig(smooth_window=0, dilation=0),
        "snippet, no smoothing": DetectConfig(resolution="snippet", smooth_window=0),
        "frame, cap 100": DetectConfig(max_per_video=100),
        "snippet, cap 100": DetectConfig(resolution="snippet", max_per_video=100),
    }
    for name, config in settings.items():
        start = time.perf_counter()
        dets = detect(outputs, timing=timing, durations=durations, class_names=classes, config=config)
        total = time.perf_counter() - start
        n_dets = sum(len(d) for d in dets.values())
        line = f"{name:30s} total {total:6.2f} s  per video {1000 * total / len(video_ids):6.1f} ms  dets {n_dets}"
        if evaluate_detections is not None:
            tious = np.round(np.arange(0.1, 0.75, 0.1), 2)
            result = evaluate_detections(annotations, dets, tious, video_ids=video_ids)
            line += "  mAP@" + " ".join(
                f"{t:.1f}:{100 * m:.1f}" for t, m in zip(tious, result.map_per_tiou, strict=True)
            )
        print(line)


if __name__ == "__main__":
    main()
