"""Temporal action detection mAP (docs/method.md §9, eq. 21): the ActivityNet protocol, vectorised over thresholds,
videos and classes.

Protocol (as ActivityNet's ``Evaluation/eval_detection.py``), per class and per tIoU threshold:

1. predictions of the class are processed by score, highest first;
2. each is matched to the ground-truth instance of its class in its video that is not matched yet and has the
   highest tIoU, provided that tIoU >= threshold; otherwise it is a false positive;
3. a ground-truth instance is matched at most once per threshold;
4. AP is the all-point interpolated area under precision/recall (precision made monotone from the right, as in
   VOC 2011); mAP is the mean over the classes that have ground truth in the evaluated videos; a class without
   predictions scores 0.

tIoU is continuous, in seconds: ``|A & B| / |A | B|`` (0 when the union is empty).

Tie rule (fixed, so results never depend on input order): predictions with equal scores are processed in
(video id, start, end) ascending order; among unmatched ground truth with equal tIoU the earliest in annotation
order is taken. ActivityNet's code leaves both to ``np.argsort`` (not a stable sort), so its tie order is
platform-dependent.

Differences from ActivityNet's script, all about bad input rather than the metric: detections of videos outside the
evaluated set are dropped (the script counts them as false positives), and detections whose label has no ground
truth in the evaluated videos are dropped and reported (the script crashes); both are listed in the result.

Implementation: all (prediction, ground truth) pairs of the same class and video with tIoU >= the smallest
threshold are built at once; greedy matching then advances one prediction per (class, video) group per step for
all groups and thresholds together, so the Python loop runs only as many times as the largest number of
overlapping predictions in one (class, video) group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cotal.data.annotations import Annotations
from cotal.errors import ConfigError, DataError
from cotal.evaluate.formats import DetectionArrays, detections_to_arrays
from cotal.evaluate.tiou import temporal_iou

THUMOS14_TIOU: tuple[float, ...] = tuple(round(0.1 * i, 2) for i in range(1, 8))
ACTIVITYNET_TIOU: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
TIOU_PRESETS: dict[str, tuple[float, ...]] = {"thumos14": THUMOS14_TIOU, "activitynet": ACTIVITYNET_TIOU}
# THUMOS14 test videos with broken annotations, commonly excluded (docs/method.md §9).
THUMOS14_BROKEN_TEST_VIDEOS: tuple[str, ...] = ("video_test_0000270", "video_test_0001292", "video_test_0001496")

AmbiguousMode = Literal["ignore_fp", "drop"]


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


def resolve_tiou_thresholds(tiou_thresholds: Sequence[float] | str) -> np.ndarray:
    """A preset name ("thumos14", "activitynet") or a list of thresholds in (0, 1] -> (K,) float64 array."""
    if isinstance(tiou_thresholds, str):
        if tiou_thresholds.lower() not in TIOU_PRESETS:
            raise ConfigError(f"unknown tIoU preset {tiou_thresholds!r}; choose one of {', '.join(TIOU_PRESETS)}")
        return np.asarray(TIOU_PRESETS[tiou_thresholds.lower()], dtype=np.float64)
    thr = np.asarray(list(tiou_thresholds), dtype=np.float64).reshape(-1)
    if thr.size == 0:
        raise ConfigError("tiou_thresholds is empty")
    if not np.all((thr > 0) & (thr <= 1)):
        raise ConfigError(f"tIoU thresholds must lie in (0, 1], got {thr.tolist()}")
    return thr


def pair_indices(a_keys: np.ndarray, b_keys_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with ``a_keys[i] == b_keys_sorted[j]``, ordered by i then j.

    Args:
        a_keys: (N,) int keys.
        b_keys_sorted: (M,) int keys, ascending.
    Returns:
        (E,) indices into a, (E,) indices into b.
    """
    # In-place steps: on millions of detections every temporary (N,) int64 array costs 8 bytes per detection.
    lo = np.searchsorted(b_keys_sorted, a_keys, side="left")
    cnt = np.searchsorted(b_keys_sorted, a_keys, side="right")
    cnt -= lo
    ia = np.repeat(np.arange(len(a_keys)), cnt)
    start = np.cumsum(cnt)
    start -= cnt
    del cnt
    lo -= start  # ib = lo[ia] + (position - start[ia]) = (lo - start)[ia] + position
    del start
    ib = lo[ia]
    ib += np.arange(len(ia))
    return ia, ib


def _overlaps_any(vid: np.ndarray, seg: np.ndarray, ivl_vid: np.ndarray, ivl: np.ndarray) -> np.ndarray:
    """(N,) bool: segment i has a positive-length intersection with an interval of the same video."""
    order = np.argsort(ivl_vid, kind="stable")
    ia, ib = pair_indices(vid, ivl_vid[order])
    ivl = ivl[order]
    inter = np.minimum(seg[ia, 1], ivl[ib, 1]) - np.maximum(seg[ia, 0], ivl[ib, 0])
    out = np.zeros(len(vid), dtype=bool)
    out[ia[inter > 0]] = True
    return out


# Prediction/ground-truth pairs whose tIoU is computed at once: bounds the temporary memory on huge inputs.
_PAIR_CHUNK = 1 << 18


def _greedy_match(
    pred_key: np.ndarray, pred_seg: np.ndarray, gt_key: np.ndarray, gt_seg: np.ndarray, thr: np.ndarray
) -> np.ndarray:
    """Greedy ActivityNet matching for all groups and thresholds at once.

    Args:
        pred_key: (N,) group (class, video) key of each prediction; predictions are in processing order.
        pred_seg: (N, 2) prediction segments.
        gt_key: (M,) group key of each ground-truth instance, ascending (annotation order within a group).
        gt_seg: (M, 2) ground-truth segments.
        thr: (K,) tIoU thresholds.
    Returns:
        (K, N) bool: prediction n is a true positive at threshold k.
    """
    K, N = len(thr), len(pred_key)
    tp = np.zeros((K, N), dtype=bool)
    ip, ig = pair_indices(pred_key, gt_key)
    tiou = np.empty(len(ip))
    for a in range(0, len(ip), _PAIR_CHUNK):  # chunks: no (pairs, 2) copies of both segment arrays at once
        tiou[a : a + _PAIR_CHUNK] = temporal_iou(
            pred_seg[ip[a : a + _PAIR_CHUNK]], gt_seg[ig[a : a + _PAIR_CHUNK]], pairwise=False
        )
    keep = tiou >= thr.min()
    if not keep.all():  # one array at a time: each old one is freed before the next copy
        ip = ip[keep]
        ig = ig[keep]
        tiou = tiou[keep]
    if ip.size == 0:
        return tp
    # Rank of each prediction among the predictions of its group that have candidate pairs (processing order).
    cand = ip[np.r_[True, ip[1:] != ip[:-1]]]  # ip is ascending
    by_group = cand[np.argsort(pred_key[cand], kind="stable")]
    gkeys = pred_key[by_group]
    first = np.r_[0, np.flatnonzero(gkeys[1:] != gkeys[:-1]) + 1]
    rank = np.empty(N, dtype=np.int64)
    rank[by_group] = np.arange(len(by_group)) - np.repeat(first, np.diff(np.r_[first, len(gkeys)]))
    # Step r handles the r-th prediction of every group; pairs stay ordered by prediction, then ground-truth index
    # (a stable sort of the ascending (ip, ig) order).
    erank = rank[ip]
    order = np.argsort(erank.astype(np.int16) if erank.max() < 2**15 else erank, kind="stable")
    ip = ip[order]
    ig = ig[order]
    tiou = tiou[order]
    erank = erank[order]
    bounds = np.searchsorted(erank, np.arange(erank[-1] + 2))
    locked = np.zeros((K, len(gt_key)), dtype=bool)
    for r in range(len(bounds) - 1):
        a, b = bounds[r], bounds[r + 1]
        p, g, t = ip[a:b], ig[a:b], tiou[a:b]
        valid = (t[None, :] >= thr[:, None]) & ~locked[:, g]
        # Best unlocked pair per (threshold, prediction): the largest tIoU, the earliest ground truth on ties.
        starts = np.r_[0, np.flatnonzero(p[1:] != p[:-1]) + 1]
        masked = np.where(valid, t[None, :], -1.0)
        best = np.maximum.reduceat(masked, starts, axis=1)
        best = np.repeat(best, np.diff(np.r_[starts, len(p)]), axis=1)
        kk, ee = np.nonzero(valid & (masked == best))  # row-major: by threshold, then pair
        if kk.size == 0:
            continue
        pe = p[ee]
        head = np.r_[True, (kk[1:] != kk[:-1]) | (pe[1:] != pe[:-1])]
        kk, ee = kk[head], ee[head]
        tp[kk, p[ee]] = True
        locked[kk, g[ee]] = True
    return tp


def _interpolated_ap(tp: np.ndarray, counted: np.ndarray, npos: int) -> np.ndarray:
    """VOC-2011 all-point interpolated AP of one class.

    Args:
        tp: (K, n) bool true positives, predictions in processing order.
        counted: (K, n) bool; False for predictions ignored at that threshold (neither TP nor FP).
        npos: number of ground-truth instances (> 0).
    Returns:
        (K,) AP = sum over true positives of max precision at or after it, divided by npos.
    """
    tpc = np.cumsum(tp, axis=1)
    seen = np.cumsum(counted, axis=1)
    prec = np.divide(tpc, seen, out=np.zeros(tp.shape), where=seen > 0)
    prec = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
    return (prec * tp).sum(axis=1) / npos


@dataclass
class _GroundTruth:
    """Ground truth of the evaluated videos as arrays, grouped by (class, video).

    Attributes:
        videos: V evaluated video ids; ``video_index`` maps each to its position.
        classes: C class names with ground truth in those videos (sorted); ``class_index`` maps each to its position.
        key: (M,) int64 group key ``class * V + video`` of each instance, ascending (annotation order within a group).
        segments: (M, 2) float64 start/end seconds, aligned with ``key``.
        num_gt: (C,) instances per class.
        duplicates: instances removed by ``dedup_gt`` (``None`` when it is off).
    """

    videos: list[str]
    video_index: dict[str, int]
    classes: list[str]
    class_index: dict[str, int]
    key: np.ndarray
    segments: np.ndarray
    num_gt: np.ndarray
    duplicates: int | None


def _check_options(ambiguous: AmbiguousMode | None, max_per_video: int | None) -> None:
    """Raise ConfigError for an unknown ``ambiguous`` mode or a ``max_per_video`` that is not a positive integer."""
    if ambiguous not in (None, "ignore_fp", "drop"):
        raise ConfigError(f"ambiguous must be None, 'ignore_fp' or 'drop', got {ambiguous!r}")
    if max_per_video is not None and (isinstance(max_per_video, bool) or int(max_per_video) < 1):
        raise ConfigError(f"max_per_video must be a positive integer, got {max_per_video!r}")


def _ground_truth_arrays(
    annotations: Annotations,
    subset: str | None,
    video_ids: Sequence[str] | None,
    excluded: set[str],
    dedup_gt: bool,
) -> _GroundTruth:
    """The evaluated videos (``subset`` and ``video_ids`` intersected, ``excluded`` removed) and their ground truth."""
    if video_ids is not None:
        missing = [v for v in video_ids if v not in annotations]
        if missing:
            raise DataError(f"video_ids: {len(missing)} id(s) not in the annotations, e.g. {missing[0]!r}")
    candidates = annotations.ids(subset) if video_ids is None else sorted(set(video_ids))
    vids = [v for v in candidates if v not in excluded and (subset is None or annotations[v].subset == subset)]
    classes = sorted({lab for v in vids for lab in annotations[v].labels})
    cls_index = {c: i for i, c in enumerate(classes)}
    V = len(vids)

    gt_vid = np.repeat(np.arange(V, dtype=np.int64), [len(annotations[v].labels) for v in vids])
    gt_cls = np.asarray([cls_index[lab] for v in vids for lab in annotations[v].labels], dtype=np.int64)
    gt_seg = np.concatenate([annotations[v].segments for v in vids] or [np.zeros((0, 2))]).reshape(-1, 2)
    duplicates = None
    if dedup_gt and len(gt_cls):
        rows = np.column_stack([gt_vid, gt_cls, gt_seg])
        _, first = np.unique(rows, axis=0, return_index=True)
        first.sort()
        duplicates = len(gt_cls) - len(first)
        gt_vid, gt_cls, gt_seg = gt_vid[first], gt_cls[first], gt_seg[first]
    gt_key = gt_cls * V + gt_vid
    gt_order = np.argsort(gt_key, kind="stable")  # annotation order kept inside a (class, video) group
    return _GroundTruth(
        videos=vids,
        video_index={v: i for i, v in enumerate(vids)},
        classes=classes,
        class_index=cls_index,
        key=gt_key[gt_order],
        segments=gt_seg[gt_order],
        num_gt=np.bincount(gt_cls, minlength=len(classes)),
        duplicates=duplicates,
    )


@dataclass
class _Predictions:
    """Detections that reach matching (in input order, then permuted into processing order), and what the
    filters left out.

    Attributes:
        video: (N,) int64 evaluated-video index; ``cls`` (N,) int64 class index.
        segments: (N, 2) float64 start/end seconds; ``scores`` (N,) float64.
        in_ambiguous: (N,) bool, the detection intersects an ambiguous interval of its video (all False when
            ambiguous intervals are not used).
        unknown_videos, unknown_labels, labels_without_gt: as in :class:`DetectionResult`.
        dropped: detections left out, by reason.
    """

    video: np.ndarray
    cls: np.ndarray
    segments: np.ndarray
    scores: np.ndarray
    in_ambiguous: np.ndarray
    unknown_videos: list[str]
    unknown_labels: list[str]
    labels_without_gt: list[str]
    dropped: dict[str, int]


def _filter_detections(
    arr: DetectionArrays,
    annotations: Annotations,
    gt: _GroundTruth,
    max_per_video: int | None,
    ambiguous: AmbiguousMode | None,
) -> _Predictions:
    """Apply the documented filters in order: top-N per video, evaluated videos, known labels, ambiguous intervals."""
    in_vid = np.asarray([gt.video_index.get(v, -1) for v in arr.video_ids], dtype=np.int64)
    unknown_videos = sorted(v for v in arr.video_ids if v not in annotations)
    p_vid = np.repeat(in_vid, arr.counts)
    p_seg, p_score = arr.segments, arr.scores
    label_names = sorted(set(arr.labels))
    label_code = {lab: gt.class_index.get(lab, -1) for lab in label_names}
    p_cls = np.fromiter(map(label_code.__getitem__, arr.labels), dtype=np.int64, count=len(arr.labels))
    dropped: dict[str, int] = {}

    keep = np.ones(len(p_vid), dtype=bool)
    if max_per_video is not None:
        raw_vid = arr.video_index
        order = np.lexsort((p_cls, p_seg[:, 1], p_seg[:, 0], -p_score, raw_vid))
        sv = raw_vid[order]
        starts = np.r_[0, np.flatnonzero(sv[1:] != sv[:-1]) + 1] if len(sv) else np.zeros(0, dtype=np.int64)
        rank = np.arange(len(sv)) - np.repeat(starts, np.diff(np.r_[starts, len(sv)]))
        keep[order[rank >= int(max_per_video)]] = False
        dropped["over_max_per_video"] = int((~keep).sum())
    known_vid = np.repeat(np.asarray([v in annotations for v in arr.video_ids], dtype=bool), arr.counts)
    dropped["unknown_video"] = int((keep & ~known_vid).sum())
    dropped["not_evaluated_video"] = int((keep & known_vid & (p_vid < 0)).sum())
    keep &= p_vid >= 0
    known_classes = set(annotations.classes)
    unknown_labels = sorted(lab for lab in label_names if lab not in known_classes)
    labels_without_gt = sorted(lab for lab in label_names if lab in known_classes and lab not in gt.class_index)
    # Labels are reported only when their detections reach the evaluated videos.
    used_labels = {arr.labels[i] for i in np.flatnonzero(keep & (p_cls < 0))}
    unknown_labels = [lab for lab in unknown_labels if lab in used_labels]
    labels_without_gt = [lab for lab in labels_without_gt if lab in used_labels]
    dropped["unknown_label"] = int((keep & (p_cls < 0)).sum())
    keep &= p_cls >= 0

    if not keep.all():  # otherwise no copy: the caller still holds the arrays
        p_vid, p_cls, p_seg, p_score = p_vid[keep], p_cls[keep], p_seg[keep], p_score[keep]
    in_amb = np.zeros(len(p_vid), dtype=bool)
    amb = {gt.video_index[v]: ivl for v, ivl in annotations.ambiguous.items() if v in gt.video_index and len(ivl)}
    if ambiguous is not None and amb:
        amb_vid = np.repeat(np.fromiter(amb, dtype=np.int64), [len(ivl) for ivl in amb.values()])
        in_amb = _overlaps_any(p_vid, p_seg, amb_vid, np.concatenate(list(amb.values())))
    if ambiguous == "drop":
        dropped["ambiguous"] = int(in_amb.sum())
        p_vid, p_cls, p_seg, p_score = p_vid[~in_amb], p_cls[~in_amb], p_seg[~in_amb], p_score[~in_amb]
        in_amb = in_amb[~in_amb]
    return _Predictions(
        video=p_vid,
        cls=p_cls,
        segments=p_seg,
        scores=p_score,
        in_ambiguous=in_amb,
        unknown_videos=unknown_videos,
        unknown_labels=unknown_labels,
        labels_without_gt=labels_without_gt,
        dropped=dropped,
    )


def _processing_order(p: _Predictions, num_classes: int) -> np.ndarray:
    """(N,) permutation of the predictions: by class, score descending, then the tie rule (video, start, end)."""
    # A quicksort on scores then a stable sort on classes; an unstable sort is only safe without ties, so tied
    # scores within a class take the full (slower) tie-rule sort.
    order = np.argsort(-p.scores)
    cls = p.cls[order]
    order = order[np.argsort(cls.astype(np.int16) if num_classes < 2**15 else cls, kind="stable")]
    tied = (np.diff(p.cls[order]) == 0) & (np.diff(p.scores[order]) == 0)
    if tied.any():
        order = np.lexsort((p.segments[:, 1], p.segments[:, 0], p.video, -p.scores, p.cls))
    return order


def _average_precision(tp: np.ndarray, counted: np.ndarray, cls: np.ndarray, num_gt: np.ndarray) -> np.ndarray:
    """(C, K) AP per class and threshold; 0 for a class without predictions.

    Args:
        tp: (K, N) bool true positives; ``counted`` (K, N) bool, False where a prediction is ignored.
        cls: (N,) ascending class index of each prediction (processing order).
        num_gt: (C,) ground-truth instances per class (all > 0).
    """
    C = len(num_gt)
    ap = np.zeros((C, tp.shape[0]))
    bounds = np.searchsorted(cls, np.arange(C + 1))
    for c in range(C):
        a, b = bounds[c], bounds[c + 1]
        if b > a:
            ap[c] = _interpolated_ap(tp[:, a:b], counted[:, a:b], int(num_gt[c]))
    return ap


def evaluate_detections(
    annotations: Annotations,
    detections: Mapping[str, Sequence[Mapping[str, Any]]] | DetectionArrays,
    tiou_thresholds: Sequence[float] | str,
    *,
    subset: str | None = None,
    video_ids: Sequence[str] | None = None,
    exclude_videos: Sequence[str] = (),
    ambiguous: AmbiguousMode | None = None,
    dedup_gt: bool = False,
    max_per_video: int | None = None,
) -> DetectionResult:
    """ActivityNet detection mAP, as specified by the official ActivityNet ``compute_average_precision_detection``
    (``Evaluation/eval_detection.py``); see the module docstring for the protocol, the tie rule and the differences.

    Steps: ground-truth arrays of the evaluated videos, detection filters, processing order, greedy matching for
    all thresholds, AP per class and threshold.

    Args:
        annotations: ground truth.
        detections: video id -> list of ``{"segment": [s, e], "label": str, "score": float}`` (seconds), or the
            same already flattened (:class:`DetectionArrays`, e.g. from ``read_detection_arrays``).
        tiou_thresholds: K thresholds in (0, 1], or a preset name ("thumos14": 0.1:0.1:0.7, "activitynet":
            0.5:0.05:0.95).
        subset: evaluate the videos of this subset (all videos when ``None``).
        video_ids: evaluate exactly these videos (intersected with ``subset`` when both are given).
        exclude_videos: video ids removed from ground truth and detections (e.g. THUMOS14_BROKEN_TEST_VIDEOS);
            ids that are not in the annotations are ignored.
        ambiguous: ``None`` (default) ignores ``annotations.ambiguous``. ``"ignore_fp"``: a prediction that is a
            false positive at a threshold and intersects an ambiguous interval of its video is ignored there
            (neither TP nor FP; the THUMOS14 toolkit's rule). ``"drop"``: every prediction intersecting an
            ambiguous interval is removed before matching.
        dedup_gt: remove repeated ground-truth instances (same video, label, start and end).
        max_per_video: keep only the top-scoring N detections of each video (over all labels, the tie rule
            applies), before any other filtering.
    Returns:
        :class:`DetectionResult` with ``ap`` (C, K).
    Raises:
        DataError: malformed detections, or ``video_ids`` not in the annotations.
        ConfigError: invalid thresholds or options.
    """
    thr = resolve_tiou_thresholds(tiou_thresholds)
    _check_options(ambiguous, max_per_video)
    excluded = set(exclude_videos)
    gt = _ground_truth_arrays(annotations, subset, video_ids, excluded, dedup_gt)
    arr = detections if isinstance(detections, DetectionArrays) else detections_to_arrays(detections)
    p = _filter_detections(arr, annotations, gt, max_per_video, ambiguous)
    dropped = p.dropped if gt.duplicates is None else {"duplicate_gt": gt.duplicates, **p.dropped}

    order = _processing_order(p, len(gt.classes))
    p.video = p.video[order]  # one array at a time, each old one freed (bounded memory on huge inputs)
    p.cls = p.cls[order]
    p.segments = p.segments[order]  # the scores are not needed after ordering
    tp = _greedy_match(p.cls * len(gt.videos) + p.video, p.segments, gt.key, gt.segments, thr)
    counted = np.ones_like(tp)
    if ambiguous == "ignore_fp":
        counted = tp | ~p.in_ambiguous[order][None, :]
        dropped["ambiguous_ignored_fp"] = int((~counted).sum())

    return DetectionResult(
        classes=gt.classes,
        tiou_thresholds=thr,
        ap=_average_precision(tp, counted, p.cls, gt.num_gt),
        num_gt=gt.num_gt,
        num_predictions=np.bincount(p.cls, minlength=len(gt.classes)),
        num_videos=len(gt.videos),
        unknown_videos=p.unknown_videos,
        unknown_labels=p.unknown_labels,
        labels_without_gt=p.labels_without_gt,
        dropped=dropped,
        options={
            "subset": subset,
            "exclude_videos": sorted(excluded),
            "ambiguous": ambiguous,
            "dedup_gt": dedup_gt,
            "max_per_video": max_per_video,
            "tie_rule": "score desc, then video id, start, end asc; equal-tIoU ground truth: annotation order",
        },
    )
