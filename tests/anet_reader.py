"""What the official ActivityNet evaluation checks when it reads files, restated in Python 3 for tests.

The official ``ANETdetection`` (third-party, MIT; see ../shared/reference/anet_eval when present) refuses a ground
truth without ``database`` and a results file without all of ``results``, ``version`` and ``external_data``; it
indexes classes in the order their labels first appear in the evaluated subset's ground truth, looks every
predicted label up in that index (an unknown label is a KeyError), and reads segments with ``float()``. This module
applies exactly those checks, so a file it accepts is one the official reader (and DETAD, which uses the same
reader) takes unchanged. ``official_evaluation`` runs the real code where it and pandas/joblib are installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_FIELDS = ("results", "version", "external_data")
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def read_as_activitynet(gt_path: Path, pred_path: Path, subset: str) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """(class index, prediction rows (video, start, end, class index, score)) or the official reader's error."""
    gt = json.loads(Path(gt_path).read_text())
    if "database" not in gt:
        raise OSError("Please input a valid ground truth file.")
    index: dict[str, int] = {}
    for video in gt["database"].values():
        if video["subset"] == subset:
            for ann in video["annotations"]:
                index.setdefault(ann["label"], len(index))
    pred = json.loads(Path(pred_path).read_text())
    if not all(field in pred for field in RESULTS_FIELDS):
        raise OSError("Please input a valid prediction file.")
    rows = []
    for vid, dets in pred["results"].items():
        for det in dets:
            rows.append((vid, float(det["segment"][0]), float(det["segment"][1]), index[det["label"]], det["score"]))
    return index, rows


def official_evaluation(gt_path: Path, pred_path: Path, subset: str, tious: list[float]) -> np.ndarray | None:
    """mAP per tIoU from the official code, or None where it (or pandas/joblib) is not installed."""
    try:
        import joblib
        import pandas  # noqa: F401
    except ImportError:
        return None
    if not (REFERENCE / "anet_eval" / "eval_detection.py").is_file():
        return None
    vars(np).setdefault("float", float)  # the official code predates NumPy 1.24, which removed this alias
    sys.path.insert(0, str(REFERENCE))
    try:
        from anet_eval.eval_detection import ANETdetection
    finally:
        sys.path.remove(str(REFERENCE))
    ev = ANETdetection(str(gt_path), str(pred_path), subset=subset, tiou_thresholds=np.array(tious), verbose=False)
    with joblib.parallel_config(backend="threading"):  # worker processes would not find anet_eval
        ev.evaluate()
    return np.asarray(ev.mAP)
