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

Implementation: :mod:`cotal.evaluate.instances` (arrays and filters) and :mod:`cotal.evaluate.matching` (greedy
matching, AP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cotal.data.annotations import Annotations
from cotal.errors import ConfigError
from cotal.evaluate.formats import DetectionArrays, detections_to_arrays
from cotal.evaluate.instances import AmbiguousMode, filter_detections, ground_truth_arrays, processing_order
from cotal.evaluate.matching import average_precision, greedy_match
from cotal.evaluate.result import DetectionResult
from cotal.evaluate.tiou import resolve_tiou_thresholds

# THUMOS14 test videos with broken annotations, commonly excluded (docs/method.md §9).
THUMOS14_BROKEN_TEST_VIDEOS: tuple[str, ...] = ("video_test_0000270", "video_test_0001292", "video_test_0001496")


def _check_options(ambiguous: AmbiguousMode | None, max_per_video: int | None) -> None:
    """Raise ConfigError for an unknown ``ambiguous`` mode or a ``max_per_video`` that is not a positive integer."""
    if ambiguous not in (None, "ignore_fp", "drop"):
        raise ConfigError(f"ambiguous must be None, 'ignore_fp' or 'drop', got {ambiguous!r}")
    if max_per_video is not None and (isinstance(max_per_video, bool) or int(max_per_video) < 1):
        raise ConfigError(f"max_per_video must be a positive integer, got {max_per_video!r}")


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
    gt = ground_truth_arrays(annotations, subset, video_ids, excluded, dedup_gt)
    arr = detections if isinstance(detections, DetectionArrays) else detections_to_arrays(detections)
    p = filter_detections(arr, annotations, gt, max_per_video, ambiguous)
    dropped = p.dropped if gt.duplicates is None else {"duplicate_gt": gt.duplicates, **p.dropped}

    order = processing_order(p, len(gt.classes))
    p.video = p.video[order]  # one array at a time, each old one freed (bounded memory on huge inputs)
    p.cls = p.cls[order]
    p.segments = p.segments[order]  # the scores are not needed after ordering
    tp = greedy_match(p.cls * len(gt.videos) + p.video, p.segments, gt.key, gt.segments, thr)
    counted = np.ones_like(tp)
    if ambiguous == "ignore_fp":
        counted = tp | ~p.in_ambiguous[order][None, :]
        dropped["ambiguous_ignored_fp"] = int((~counted).sum())

    return DetectionResult(
        classes=gt.classes,
        tiou_thresholds=thr,
        ap=average_precision(tp, counted, p.cls, gt.num_gt),
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


def per_video_map(
    annotations: Annotations,
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
    tiou_thresholds: Sequence[float] | str,
) -> dict[str, float]:
    """Average mAP of each video on its own: :func:`evaluate_detections` restricted to that video, so only the
    classes of that video count.

    Args:
        annotations: ground truth.
        detections: video id -> detections labelled with classes (cluster ids must be mapped first).
        tiou_thresholds: as in :func:`evaluate_detections`.
    Returns:
        video id -> average mAP over the thresholds, in [0, 1], for the videos of ``detections`` that are annotated
        and have ground-truth segments.
    """
    out = {}
    for vid, dets in detections.items():
        if vid not in annotations or not len(annotations[vid].labels):
            continue
        res = evaluate_detections(annotations, {vid: list(dets)}, tiou_thresholds, video_ids=[vid])
        present = res.num_gt > 0
        out[vid] = float(res.ap[present].mean()) if present.any() else 0.0
    return out
