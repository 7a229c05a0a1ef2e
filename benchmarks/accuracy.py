"""Accuracy benchmark on THUMOS14-skeleton benchmark data (issue 6): unsupervised vs weak, rounds, ablations.

    .venv/bin/python benchmarks/accuracy.py --work runs/acc [--dim 1024] [--seed 0] [--grid]

1. ``cotal synth`` on the real THUMOS14 annotation skeleton -> WORK/data (train: 200 "validation" videos,
   test: the "test" videos).
2. A validation split of the TRAINING videos (WORK/val: "fit" 80% / "val" 20%). With ``--grid`` a small grid of
   settings is scored there (val mAP@0.5 with the Hungarian mapping for unsupervised runs); the test videos
   are not in WORK/val, so they cannot influence the choice.
3. Final runs on WORK/data with the chosen settings: unsupervised (all rounds), weakly supervised, and the
   ablations round-0-only (1 round), without L_abs (loss.beta=0) and without L_trip (loss.alpha=0).
Prints the per-round clustering table, mAP at tIoU 0.1-0.7 and the wall time per stage of each run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from cotal.config import load_config
from cotal.data.split import make_validation_split
from cotal.pipeline import fit
from cotal.report import clustering_table, map_table
from cotal.synth import SynthConfig, generate_features

GRID = {
    "train.epochs": [20, 40],
    "detect.smooth_window": [None, 0],
}


def overrides_of(flat: dict[str, object]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for key, value in flat.items():
        section, name = key.split(".")
        out.setdefault(section, {})[name] = value
    return out


def merge(*dicts: dict) -> dict:
    out: dict = {}
    for d in dicts:
        for section, values in d.items():
            out.setdefault(section, {}).update(values)
    return out


def score(metrics: dict) -> float:
    det = metrics["detection"]
    res = det.get("hungarian") or det["weak"]
    return res["map_per_tiou"][res["tiou_thresholds"].index(0.5)]


def run(data: Path, out: Path, over: dict, label: str) -> dict:
    t0 = time.perf_counter()
    metrics = fit(data, out, load_config(args.config, over), progress=False)
    wall = time.perf_counter() - t0
    print(f"\n### {label}  ({out}, {wall / 60:.1f} min)")
    if metrics["rounds"]:
        print(clustering_table(metrics["rounds"]))
    print(map_table(metrics["detection"]))
    print("stage wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in metrics["timings_s"].items()))
    metrics["wall_s"] = wall
    return metrics


def main() -> None:
    work = Path(args.work)
    data, val = work / "data", work / "val"
    if not (data / "annotations.json").exists():
        t0 = time.perf_counter()
        generate_features(data, skeleton=args.skeleton, config=SynthConfig(dim=args.dim), seed=args.seed)
        print(f"generated {data} in {time.perf_counter() - t0:.0f} s")
    if not (val / "annotations.json").exists():
        make_validation_split(data, val, fraction=0.2, seed=args.seed)
    base = {"pipeline": {"seed": args.seed}}
    chosen: dict[str, dict] = {"none": {}, "weak": {}}
    if args.grid:
        for supervision in ("none", "weak"):
            best = None
            for values in itertools.product(*GRID.values()):
                flat = dict(zip(GRID, values, strict=True))
                tag = "_".join(f"{k.split('.')[1]}-{v}" for k, v in flat.items())
                over = merge(base, {"pipeline": {"supervision": supervision}}, overrides_of(flat))
                m = run(val, work / "grid" / f"{supervision}_{tag}", over, f"grid {supervision} {flat}")
                if best is None or score(m) > best[0]:
                    best = (score(m), flat)
            chosen[supervision] = overrides_of(best[1])
            print(
                f"\nchosen on the validation split for supervision={supervision}: {best[1]} (val mAP@0.5 {best[0]:.3f})"
            )
    runs = {
        "unsupervised": merge(base, chosen["none"]),
        "weakly_supervised": merge(base, {"pipeline": {"supervision": "weak"}}, chosen["weak"]),
        "round0_only": merge(base, chosen["none"], {"pipeline": {"rounds": 1}}),
        "without_L_abs": merge(base, chosen["none"], {"loss": {"beta": 0.0}}),
        "without_L_trip": merge(base, chosen["none"], {"loss": {"alpha": 0.0}}),
    }
    results = {}
    for name in args.runs:
        results[name] = run(data, work / name, runs[name], name)
    summary = {
        name: {
            "rounds": m["rounds"],
            "detection": {k: v["map_per_tiou"] for k, v in m["detection"].items()},
            "timings_s": m["timings_s"],
            "wall_s": m["wall_s"],
        }
        for name, m in results.items()
    }
    (work / "summary.json").write_text(json.dumps({"chosen": chosen, "runs": summary}, indent=1))
    print(f"\nsummary -> {work / 'summary.json'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/accuracy")
    parser.add_argument("--skeleton", default="thumos14")
    parser.add_argument("--config", default="thumos14")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", action="store_true", help="choose settings on the validation split first")
    parser.add_argument(
        "--runs",
        nargs="+",
        default=["unsupervised", "weakly_supervised", "round0_only", "without_L_abs", "without_L_trip"],
    )
    args = parser.parse_args()
    main()
