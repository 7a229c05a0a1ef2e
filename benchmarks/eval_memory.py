"""Peak memory of `cotal eval` on a large detections file (docs/reliability.md: at most 4x the file size).

Generates a valid ActivityNet results file of about --mb megabytes (every detection on a video of a matching
ground truth), then runs `cotal eval` in a child process and reads the child's peak RSS (ru_maxrss). The baseline
of `cotal --help` (the interpreter and the command line's own imports) is measured the same way and reported too.

Run: .venv/bin/python benchmarks/eval_memory.py [--mb 200] [--dir /tmp/cotal_eval_memory]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from cotal.evaluate.compact import write_generated_detections
from cotal.utils.io import write_json

PER_VIDEO = 1000
BYTES_PER_DETECTION = 80  # what write_generated_detections writes, approximately


def child_peak_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``python ARGS`` in a fresh child (RUSAGE_CHILDREN is the max over children)."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise SystemExit("run the baseline in a separate process: ru_maxrss of children is a running maximum")
    return peak / 1024, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=200.0, help="approximate detections file size")
    p.add_argument("--dir", default="/tmp/cotal_eval_memory")
    args = p.parse_args()
    out = Path(args.dir)
    videos = max(1, int(args.mb * 1e6 / (PER_VIDEO * BYTES_PER_DETECTION)))
    det = write_generated_detections(out / "detections.json", videos=videos, per_video=PER_VIDEO)
    gt = {
        f"video_{v:06d}": {
            "subset": "test",
            "duration": 120.0,
            "annotations": [{"segment": [10.0 + c, 20.0 + c], "label": str(c)} for c in range(20)],
        }
        for v in range(videos)
    }
    write_json(out / "gt.json", {"database": gt})
    size_mb = det.stat().st_size / 1e6
    base, _ = child_peak_mb(["-m", "cotal", "--help"])  # what any command costs before it reads a file
    peak, seconds = child_peak_mb(["-m", "cotal", "eval", "--data", str(out / "gt.json"), "--detections", str(det)])
    print(
        json.dumps(
            {
                "file_mb": round(size_mb, 1),
                "detections": videos * PER_VIDEO,
                "peak_rss_mb": round(peak, 1),
                "ratio_to_file": round(peak / size_mb, 2),
                "import_baseline_rss_mb": round(base, 1),
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
