"""The result of detection evaluation: mAP per class and tIoU threshold, what was left out, and its text table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DetectionResult:
    """Detection mAP and what was left out.

    Attributes:
        classes: C evaluated class names (sorted; those with ground truth in the evaluated videos).
        tiou_thresholds: (K,) thresholds.
        ap: (C, K) average precision per class and threshold.
        num_gt: (C,) ground-truth instances per class.
        num_predictions: (C,) predictions evaluated per class.
        num_videos: number of evaluated videos.
        unknown_videos: detection video ids that are not in the annotations (sorted).
        unknown_labels: detection labels that are no class of the annotations (sorted).
        labels_without_gt: detection labels that are classes of the annotations but have no ground truth in the
            evaluated videos (sorted).
        dropped: number of detections left out, by reason.
        options: the evaluation options, for the record.
    """

    classes: list[str]
    tiou_thresholds: np.ndarray
    ap: np.ndarray
    num_gt: np.ndarray
    num_predictions: np.ndarray
    num_videos: int
    unknown_videos: list[str] = field(default_factory=list)
    unknown_labels: list[str] = field(default_factory=list)
    labels_without_gt: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def map_per_tiou(self) -> np.ndarray:
        """(K,) mAP per threshold (mean over classes; 0 when there are no classes)."""
        return self.ap.mean(axis=0) if len(self.classes) else np.zeros(len(self.tiou_thresholds))

    @property
    def average_map(self) -> float:
        """Mean of :attr:`map_per_tiou`."""
        return float(self.map_per_tiou.mean()) if len(self.tiou_thresholds) else 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (fractions in [0, 1], not percent)."""
        return {
            "tiou_thresholds": [float(t) for t in self.tiou_thresholds],
            "map_per_tiou": [float(m) for m in self.map_per_tiou],
            "average_map": self.average_map,
            "ap": {c: [float(a) for a in row] for c, row in zip(self.classes, self.ap, strict=True)},
            "num_gt": {c: int(n) for c, n in zip(self.classes, self.num_gt, strict=True)},
            "num_predictions": {c: int(n) for c, n in zip(self.classes, self.num_predictions, strict=True)},
            "num_videos": self.num_videos,
            "unknown_videos": list(self.unknown_videos),
            "unknown_labels": list(self.unknown_labels),
            "labels_without_gt": list(self.labels_without_gt),
            "dropped": dict(self.dropped),
            "options": json.loads(json.dumps(self.options)),
        }

    def table(self, per_class: bool = True, max_names: int = 10) -> str:
        """Readable text: mAP (%) per threshold and their average, optionally AP per class, then notes."""
        heads = [f"{t:.2f}" for t in self.tiou_thresholds] + ["avg"]
        width = max(7, max(len(c) for c in self.classes) + 1 if self.classes else 7)
        lines = ["tIoU".ljust(width) + "".join(h.rjust(7) for h in heads)]
        maps = [*self.map_per_tiou, self.average_map]
        lines.append("mAP (%)".ljust(width) + "".join(f"{100 * m:7.2f}" for m in maps))
        if per_class and self.classes:
            lines.append("-" * len(lines[0]))
            for c, row in zip(self.classes, self.ap, strict=True):
                lines.append(c.ljust(width) + "".join(f"{100 * a:7.2f}" for a in [*row, row.mean()]))
        lines.append(
            f"{self.num_videos} videos, {len(self.classes)} classes, {int(self.num_gt.sum())} ground-truth instances, "
            f"{int(self.num_predictions.sum())} predictions evaluated"
        )
        for name, items in (
            ("unknown video ids", self.unknown_videos),
            ("unknown labels", self.unknown_labels),
            ("labels without ground truth in the evaluated videos", self.labels_without_gt),
        ):
            if items:
                shown = ", ".join(items[:max_names]) + (
                    f", ... ({len(items)} in all)" if len(items) > max_names else ""
                )
                lines.append(f"ignored detections with {name}: {shown}")
        dropped = {k: v for k, v in self.dropped.items() if v}
        if dropped:
            lines.append("detections left out: " + ", ".join(f"{k}={v}" for k, v in dropped.items()))
        return "\n".join(lines)
