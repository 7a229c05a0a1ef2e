"""Speed of ActivityNet-scale detection evaluation: cotal's vectorised mAP against a per-prediction loop.

Builds a synthetic ActivityNet-like input (default: 5,000 videos x 100 detections, 100 classes, tIoU 0.5:0.05:0.95),
times ``cotal.evaluate.evaluate_detections`` (dict input to result) and the straightforward reference loop of
``tests/evaluate/anet_reference.py`` on the same input, and prints both times, their ratio and the largest AP
difference. Scores are continuous, so there are no ties.

    .venv/bin/python benchmarks/eval_speed.py [--videos 5000] [--per-video 100] [--classes 100] [--seed 0]

``--official DIR`` (the folder that holds ``anet_eval/``, e.g. /work/shared/reference) compares whole commands
instead, each a fresh process from JSON files to mAP: ``python -m cotal eval --data gt.json --detections
results.json --preset activitynet`` against the official ActivityNet code (``ANETdetection(...).evaluate()``,
which needs pandas and joblib installed beside cotal, not as its dependencies). ActivityNet-1.2 scale:
``--videos 2382 --per-video 100``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations
from cotal.evaluate import ACTIVITYNET_TIOU, evaluate_detections

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.evaluate
from tests.evaluate.anet_reference import reference_map  # noqa: E402


def build_input(
    num_videos: int, per_video: int, num_classes: int, seed: int
) -> tuple[Annotations, dict[str, list[dict]]]:
    """ActivityNet-like ground truth (1-3 instances of one class per video, 10% with a second class) and
    detections (70% jittered copies of a ground-truth instance with its label, 30% random segments and labels)."""
    rng = np.random.default_rng(seed)
    classes = [f"class_{i:03d}" for i in range(num_classes)]
    db, dets = {}, {}
    for i in range(num_videos):
        vid = f"v_{i:06d}"
        dur = float(rng.uniform(30, 240))
        labs = [classes[rng.integers(num_classes)]]
        if rng.random() < 0.1:
            labs.append(classes[rng.integers(num_classes)])
        anns = []
        for _ in range(int(rng.integers(1, 4))):
            s = float(rng.uniform(0, dur * 0.8))
            anns.append(
                {"segment": [s, min(dur, s + float(rng.uniform(2, dur * 0.5)))], "label": str(rng.choice(labs))}
            )
        db[vid] = {"subset": "validation", "duration": dur, "annotations": anns}
        n_near = int(per_video * 0.7)
        src = rng.integers(len(anns), size=n_near)
        near = np.array([anns[j]["segment"] for j in src]) + rng.normal(0, 3, size=(n_near, 2))
        far_s = rng.uniform(0, dur, size=per_video - n_near)
        far = np.column_stack([far_s, far_s + rng.uniform(1, dur / 2, size=len(far_s))])
        seg = np.clip(np.sort(np.vstack([near, far]), axis=1), 0, dur)
        labels = [anns[j]["label"] for j in src] + [classes[k] for k in rng.integers(num_classes, size=len(far_s))]
        scores = rng.random(per_video)
        dets[vid] = [
            {"segment": [float(a), float(b)], "label": lab, "score": float(sc)}
            for (a, b), lab, sc in zip(seg, labels, scores, strict=True)
        ]
    return Annotations.from_json({"database": db}), dets


OFFICIAL = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from anet_eval.eval_detection import ANETdetection
thr = np.linspace(0.5, 0.95, 10)
det = ANETdetection(sys.argv[2], sys.argv[3], subset="validation", tiou_thresholds=thr, verbose=False)
mean_ap, average_map = det.evaluate()
print("average mAP", float(average_map))
"""


def whole_commands(ann: Annotations, dets: dict[str, list[dict]], official: str, repeats: int) -> None:
    """Time ``cotal eval`` and the official code as whole processes on the same JSON files (best of ``repeats``)."""
    with tempfile.TemporaryDirectory() as tmp:
        gt, pred = os.path.join(tmp, "gt.json"), os.path.join(tmp, "results.json")
        with open(gt, "w") as fh:
            json.dump(ann.to_json(), fh)
        with open(pred, "w") as fh:
            json.dump({"version": "VERSION 1.3", "results": dets, "external_data": {}}, fh)
        # The official code uses np.float (removed in NumPy 1.24), also in its joblib worker processes: a
        # sitecustomize on their PYTHONPATH restores the alias everywhere.
        with open(os.path.join(tmp, "sitecustomize.py"), "w") as fh:
            fh.write("import numpy\nnumpy.float = float\n")
        official_env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")])}
        commands = {
            "cotal eval": [sys.executable, "-m", "cotal", "eval", "--data", gt, "--detections", pred,
                           "--preset", "activitynet"],
            "official ActivityNet code": [sys.executable, "-c", OFFICIAL, official, gt, pred],
        }  # fmt: skip
        best = {}
        for name, cmd in commands.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                env = official_env if name.startswith("official") else None
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode:
                    raise SystemExit(f"{name} failed: {proc.stderr.strip()[-2000:]}")
                out = proc.stdout
                times.append(time.perf_counter() - t0)
            best[name] = min(times)
            summary = [line for line in out.splitlines() if "mAP" in line][-1:]  # the average-mAP line of each
            print(f"{name:>26}: {best[name]:8.3f} s (best of {repeats})  {' '.join(summary).strip()}")
        print(f"{'speed-up':>26}: {best['official ActivityNet code'] / best['cotal eval']:8.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--per-video", type=int, default=100)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="cotal timing: best of this many runs")
    parser.add_argument("--official", help="folder holding anet_eval/: compare whole commands with the official code")
    args = parser.parse_args()

    ann, dets = build_input(args.videos, args.per_video, args.classes, args.seed)
    thr = np.asarray(ACTIVITYNET_TIOU)
    n = sum(len(v) for v in dets.values())
    print(f"input: {len(ann)} videos, {n} detections, {len(ann.classes)} classes, {len(thr)} thresholds")
    if args.official:
        whole_commands(ann, dets, args.official, args.repeats)
        return

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = evaluate_detections(ann, dets, thr)
        times.append(time.perf_counter() - t0)
    t_fast = min(times)
    t0 = time.perf_counter()
    classes, ap_ref = reference_map(ann, dets, thr)
    t_ref = time.perf_counter() - t0
    assert classes == res.classes
    print(f"cotal vectorised : {t_fast:8.3f} s (best of {args.repeats})  average mAP {res.average_map:.6f}")
    print(f"reference loop   : {t_ref:8.3f} s")
    print(f"speed-up         : {t_ref / t_fast:8.1f} x")
    print(f"max |AP diff|    : {np.abs(res.ap - ap_ref).max():.3e}")


if __name__ == "__main__":
    main()
