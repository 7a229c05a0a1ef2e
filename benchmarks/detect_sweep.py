"""Score detection settings on a finished run's exported outputs (no retraining).

    .venv/bin/python benchmarks/detect_sweep.py --run RUN --data DIR

Use it on a development dataset or a validation split, never on the test videos you report: the settings it
ranks are hyperparameters.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

from cotal.config import load_config
from cotal.data import FeatureDataset
from cotal.evaluate import apply_mapping, build_mapping, evaluate_detections, read_clusters
from cotal.pipeline import detect_outputs
from cotal.train import load_outputs
from cotal.utils.io import read_json

GRID = {
    "smooth_window": [None, 0],
    "dilation": [20, 0],
    "activation": ["cas", "cas_x_attention"],
    "resolution": ["frame", "snippet"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    args = p.parse_args()
    run = Path(args.run)
    ds = FeatureDataset(args.data)
    cfg = load_config(run / "config.yaml")
    final = read_json(run / "final.json")
    round_dir = run / Path(next(iter(final["models"].values()))).parts[0]
    outputs = {name: load_outputs(round_dir / f"outputs_test_{name}.npz") for name in final["models"]}
    ids = sorted(next(iter(outputs.values())))
    mapping = None
    if (run / "clusters.json").exists():
        mapping = build_mapping(read_clusters(run / "clusters.json"), ds.annotations, method="hungarian")
    print("setting".ljust(70) + "mAP@0.3  @0.5  @0.7   avg(0.1:0.7)")
    for values in itertools.product(*GRID.values()):
        over = dict(zip(GRID, values, strict=True))
        c = dataclasses.replace(cfg, detect=dataclasses.replace(cfg.detect, **over))
        dets = detect_outputs(outputs, ds, ids, final["class_names"], c)
        if mapping is not None:
            dets = apply_mapping(dets, mapping)
        r = evaluate_detections(ds.annotations, dets, list(cfg.pipeline.tiou_thresholds), video_ids=ids)
        m = dict(zip([round(t, 2) for t in r.tiou_thresholds], r.map_per_tiou, strict=True))
        print(f"{str(over):70s}{100 * m[0.3]:6.2f} {100 * m[0.5]:6.2f} {100 * m[0.7]:6.2f} {100 * r.average_map:8.2f}")


if __name__ == "__main__":
    main()
