"""The text tables ``cotal fit`` and ``cotal demo`` print: clustering per round, mAP per tIoU, wall time per stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cotal.report.data import MAPPING_NAMES
from cotal.report.records import CLUSTER_KEYS


def clustering_table(rounds: list[dict[str, Any]]) -> str:
    """Per-round clustering metrics in the paper's format (one row per clustering)."""
    if not rounds:
        return ""
    keys = [k for k in CLUSTER_KEYS if k in rounds[0]]
    head = f"{'round':>5}  {'pooling':<13}{'C':>3}  " + "".join(k.rjust(15) for k in keys)
    lines = [head]
    for row in rounds:
        r = row["round"]
        pooling = "round-0" if r == 0 else f"S of round {r - 1}"  # round 0: cluster.pooling
        lines.append(f"{r:>5}  {pooling:<13}{row['num_clusters']:>3}  " + "".join(f"{row[k]:15.3f}" for k in keys))
    return "\n".join(lines)


def map_table(detection: dict[str, Any]) -> str:
    """mAP (%) per tIoU for each mapping (unsupervised) or the weak result."""
    lines = []
    for name, res in detection.items():
        if not lines:
            lines.append("mAP (%) @ tIoU".ljust(18) + "".join(f"{t:7.2f}" for t in res["tiou_thresholds"]) + "    avg")
        maps = [*res["map_per_tiou"], res["average_map"]]
        lines.append(MAPPING_NAMES.get(name, name).ljust(18) + "".join(f"{100 * m:7.2f}" for m in maps))
    return "\n".join(lines)


def timings_table(timings: Mapping[str, float]) -> str:
    """Wall time per stage as aligned text rows (stage, seconds, share of the total)."""
    total = sum(timings.values()) or 1.0
    width = max([len(k) for k in timings] + [5])
    lines = ["stage".ljust(width) + "   seconds  share"]
    for k, v in timings.items():
        lines.append(f"{k.ljust(width)} {v:9.1f} {100 * v / total:5.0f}%")
    lines.append(f"{'total'.ljust(width)} {sum(timings.values()):9.1f}")
    return "\n".join(lines)


def print_summary(metrics: dict[str, Any]) -> None:
    """Print the clustering, mAP and wall-time tables of a run's ``metrics.json``."""
    if metrics.get("rounds"):
        print("\nClustering of the training videos (reported only; ground truth is never used to fit):")
        print(clustering_table(metrics["rounds"]))
    if metrics.get("detection"):
        print("\nDetection on the test videos:")
        print(map_table(metrics["detection"]))
    if metrics.get("timings_s"):
        print("\nWall time per stage:")
        print(timings_table(metrics["timings_s"]))
