"""A straightforward per-prediction implementation of the ActivityNet detection protocol.

It follows the structure of ActivityNet's ``compute_average_precision_detection`` (one prediction at a time, ground
truth visited by decreasing tIoU, one lock per ground truth and threshold) with cotal's fixed tie rule, and is the
yardstick for :func:`cotal.evaluate.evaluate_detections` in the tests and in ``benchmarks/eval_speed.py``.
Detections of videos outside the evaluated set and labels without ground truth are skipped, as in cotal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cotal.data.annotations import Annotations


def _tiou(p: tuple[float, float], g: tuple[float, float]) -> float:
    inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
    union = (p[1] - p[0]) + (g[1] - g[0]) - inter
    return inter / union if union > 0 else 0.0


def _voc_ap(prec: list[float], rec: list[float]) -> float:
    """VOC 2011 interpolated AP, written as in ActivityNet's ``interpolated_prec_rec``."""
    mprec = [0.0, *prec, 0.0]
    mrec = [0.0, *rec, 1.0]
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def reference_map(
    annotations: Annotations,
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
    tiou_thresholds: Sequence[float],
    subset: str | None = None,
) -> tuple[list[str], np.ndarray]:
    """Returns (sorted class names, (C, K) AP)."""
    vids = annotations.ids(subset)
    gt: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for v in vids:
        for (s, e), lab in zip(annotations[v].segments.tolist(), annotations[v].labels, strict=True):
            gt[(lab, v)].append((s, e))
    classes = sorted({lab for lab, _ in gt})
    evaluated = set(vids)
    preds: dict[str, list[tuple[float, str, float, float]]] = defaultdict(list)
    for v, dets in detections.items():
        if v not in evaluated:
            continue
        for d in dets:
            if d["label"] in classes:
                preds[d["label"]].append((float(d["score"]), v, float(d["segment"][0]), float(d["segment"][1])))
    ap = np.zeros((len(classes), len(tiou_thresholds)))
    for ci, c in enumerate(classes):
        npos = sum(len(g) for (lab, _), g in gt.items() if lab == c)
        plist = sorted(preds[c], key=lambda x: (-x[0], x[1], x[2], x[3]))
        for ti, thr in enumerate(tiou_thresholds):
            locked: set[tuple[str, int]] = set()
            tp, fp, prec, rec = 0, 0, [], []
            for _score, v, s, e in plist:
                cands = gt.get((c, v), [])
                ious = [_tiou((s, e), g) for g in cands]
                matched = False
                for j in sorted(range(len(cands)), key=lambda j: (-ious[j], j)):
                    if ious[j] < thr:
                        break
                    if (v, j) in locked:
                        continue
                    locked.add((v, j))
                    matched = True
                    break
                tp, fp = tp + matched, fp + (not matched)
                prec.append(tp / (tp + fp))
                rec.append(tp / npos)
            ap[ci, ti] = _voc_ap(prec, rec) if plist else 0.0
    return classes, ap
