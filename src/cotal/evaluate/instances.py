"""Ground truth and predictions as flat arrays for matching: the evaluated videos and classes, the filters a
detection passes (top-N per video, evaluated videos, known labels, ambiguous intervals) and the processing order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cotal.data.annotations import Annotations
from cotal.errors import DataError
from cotal.evaluate.formats import DetectionArrays

AmbiguousMode = Literal["ignore_fp", "drop"]


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


@dataclass
class GroundTruthArrays:
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


def ground_truth_arrays(
    annotations: Annotations,
    subset: str | None,
    video_ids: Sequence[str] | None,
    excluded: set[str],
    dedup_gt: bool,
) -> GroundTruthArrays:
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
    return GroundTruthArrays(
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
class Predictions:
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


def filter_detections(
    arr: DetectionArrays,
    annotations: Annotations,
    gt: GroundTruthArrays,
    max_per_video: int | None,
    ambiguous: AmbiguousMode | None,
) -> Predictions:
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
    return Predictions(
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


def processing_order(p: Predictions, num_classes: int) -> np.ndarray:
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
