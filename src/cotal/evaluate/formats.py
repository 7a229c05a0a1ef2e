"""Detection and cluster-assignment files: reading, validating and writing.

Detections (ActivityNet results format)::

    {"version": ..., "external_data": ..., "results": {video_id: [{"segment": [s, e], "label": str, "score": float}]}}

``version`` and ``external_data`` are optional when read (other top-level keys are ignored) and always written,
because the official ActivityNet evaluation and DETAD refuse a results file without them. In memory detections are
``dict[video_id, list[dict]]`` with the same entries. Unsupervised detections carry cluster ids as labels, written
as strings of ints ("3").

Cluster assignments: ``{video_id: cluster_id}`` with integer ids.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from cotal.data.annotations import MAX_SECONDS
from cotal.errors import DataError
from cotal.utils.io import read_json, write_json
from cotal.utils.text import short_repr, text_problem

Detections = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class DetectionArrays:
    """Detections flattened to arrays, in input order (video by video).

    Attributes:
        video_ids: the input's video ids, in input order (V entries).
        counts: (V,) int64 number of detections per video.
        segments: (N, 2) float64 start/end seconds.
        labels: N label strings.
        scores: (N,) float64.
    """

    video_ids: list[str]
    counts: np.ndarray
    segments: np.ndarray
    labels: list[str]
    scores: np.ndarray

    @property
    def video_index(self) -> np.ndarray:
        """(N,) index into ``video_ids`` of every detection."""
        return np.repeat(np.arange(len(self.video_ids)), self.counts)


_NUMBER_TYPES = (int, float, np.integer, np.floating)


def _is_number_type(t: type) -> bool:
    return issubclass(t, _NUMBER_TYPES) and not issubclass(t, (bool, np.bool_))


def _is_number(x: Any) -> bool:
    return _is_number_type(type(x))


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer too large for a float
        return False


def _check_entry(det: Any, where: str) -> None:
    """Raise a one-line DataError naming what is wrong with one detection."""
    if not isinstance(det, Mapping):
        raise DataError(f"{where}: expected an object with 'segment', 'label' and 'score', got {type(det).__name__}")
    for key in ("segment", "label", "score"):
        if key not in det:
            raise DataError(f"{where}: missing '{key}'")
    seg = det["segment"]
    if not isinstance(seg, (list, tuple, np.ndarray)) or len(seg) != 2 or not all(_is_number(x) for x in seg):
        raise DataError(f"{where}: 'segment' must be two numbers [start, end], got {short_repr(seg)}")
    try:
        within = all(abs(float(x)) <= MAX_SECONDS for x in seg)  # NaN fails too
    except OverflowError:  # an integer too large for a float
        within = False
    if not within:
        raise DataError(f"{where}: 'segment' must be two times within +-{MAX_SECONDS:g} s, got {short_repr(seg)}")
    if seg[1] < seg[0]:
        raise DataError(f"{where}: segment end {seg[1]} is before its start {seg[0]}")
    if not isinstance(det["label"], str) or not det["label"] or text_problem(det["label"]) is not None:
        raise DataError(
            f"{where}: 'label' must be a non-empty string without control characters, got {short_repr(det['label'])}"
        )
    if not _is_number(det["score"]) or not _finite(det["score"]):
        raise DataError(f"{where}: 'score' must be a finite number, got {short_repr(det['score'])}")


def detections_to_arrays(detections: Mapping[str, Sequence[Any]], source: str = "detections") -> DetectionArrays:
    """Validate detections and flatten them to arrays.

    A vectorised check runs first; only when it fails are entries checked one by one to name the first bad one.

    Args:
        detections: video id -> list of ``{"segment": [s, e], "label": str, "score": float}``.
        source: file name or description used in error messages.
    Raises:
        DataError: naming the source, video and detection index of the first malformed entry.
    """
    if not isinstance(detections, Mapping):
        raise DataError(f"{source}: detections must map video ids to lists, got {type(detections).__name__}")
    video_ids, counts, flat = [], [], []
    for vid, dets in detections.items():
        if not isinstance(vid, str) or text_problem(vid) is not None:
            raise DataError(f"{source}: video id {short_repr(vid)} is not a string without control characters")
        if not isinstance(dets, (list, tuple)):
            raise DataError(f"{source}: video {vid!r}: expected a list of detections, got {type(dets).__name__}")
        video_ids.append(vid)
        counts.append(len(dets))
        flat.extend(dets)
    try:
        segs = list(map(itemgetter("segment"), flat))
        labels = list(map(itemgetter("label"), flat))
        scores = list(map(itemgetter("score"), flat))
        # Type checks on the sets of types seen (fast); the per-entry pass below names the culprit.
        seg_types, seg_lens = set(map(type, segs)), set(map(len, segs))
        num_types = set(map(type, chain.from_iterable(segs))) | set(map(type, scores))
        ok = (
            all(issubclass(t, (list, tuple, np.ndarray)) for t in seg_types)
            and seg_lens <= {2}
            and all(_is_number_type(t) for t in num_types)
            and set(map(type, labels)) <= {str}
            and not any(not lab or text_problem(lab) is not None for lab in set(labels))
        )
        if ok:
            seg_arr = np.fromiter(chain.from_iterable(segs), dtype=np.float64, count=2 * len(segs)).reshape(-1, 2)
            score_arr = np.fromiter(scores, dtype=np.float64, count=len(scores))
            ok = bool((np.abs(seg_arr) <= MAX_SECONDS).all() and np.isfinite(score_arr).all())
            ok = ok and bool((seg_arr[:, 1] >= seg_arr[:, 0]).all())
    except (KeyError, TypeError, OverflowError):
        ok = False
    if not ok:
        for vid, dets in detections.items():
            for j, det in enumerate(dets):
                _check_entry(det, f"{source}: video {vid!r} detection {j}")
        raise AssertionError("vectorised and per-entry detection checks disagree")  # a bug, not an input error
    return DetectionArrays(
        video_ids=video_ids,
        counts=np.asarray(counts, dtype=np.int64),
        segments=seg_arr,
        labels=labels,
        scores=score_arr,
    )


def read_detections(path: str | os.PathLike) -> Detections:
    """Read an ActivityNet results JSON file; the entries are validated (see :func:`detections_to_arrays`).

    Returns:
        video id -> list of detection dicts (as in the file).
    Raises:
        DataError: missing/malformed file or entry (one line naming file, video and what is wrong).
    """
    obj = read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("results"), dict):
        raise DataError(f"{path}: expected a JSON object with a 'results' object mapping video ids to detections")
    detections_to_arrays(obj["results"], source=str(path))
    return obj["results"]


# The ActivityNet results format this file follows; the official reader requires the key, not a value.
RESULTS_VERSION = "VERSION 1.3"
DEFAULT_EXTERNAL_DATA = {
    "used": False,
    "details": "cotal: trained on the dataset's own videos only (the feature extractor's pretraining not counted)",
}


def write_detections(
    path: str | os.PathLike,
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    version: str = RESULTS_VERSION,
    external_data: Mapping[str, Any] | None = None,
) -> None:
    """Write detections atomically as ``{"version", "external_data", "results": {...}}`` after validating them.

    ``external_data`` defaults to :data:`DEFAULT_EXTERNAL_DATA`; pass your own when the features' backbone counts.
    """
    detections_to_arrays(detections, source=str(path))
    out: dict[str, Any] = {
        "version": version,
        "external_data": dict(external_data if external_data is not None else DEFAULT_EXTERNAL_DATA),
    }
    out["results"] = {
        vid: [{**d, "segment": [float(d["segment"][0]), float(d["segment"][1])], "score": float(d["score"])} for d in v]
        for vid, v in detections.items()
    }
    write_json(path, out, indent=None)


def validate_clusters(assignments: Any, source: str = "clusters") -> dict[str, int]:
    """Check ``{video_id: int cluster id}``; returns a plain dict. Raises :class:`DataError` on the first bad entry."""
    if not isinstance(assignments, Mapping):
        raise DataError(f"{source}: expected an object mapping video ids to integer cluster ids")
    out: dict[str, int] = {}
    for vid, c in assignments.items():
        if not isinstance(vid, str):
            raise DataError(f"{source}: video id {short_repr(vid)} is not a string")
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise DataError(f"{source}: video {vid!r}: cluster id must be an integer, got {short_repr(c)}")
        out[vid] = int(c)
    return out


def read_clusters(path: str | os.PathLike) -> dict[str, int]:
    """Read a cluster-assignment JSON file ``{video_id: cluster_id}``."""
    return validate_clusters(read_json(path), source=str(path))


def write_clusters(path: str | os.PathLike, assignments: Mapping[str, int]) -> None:
    """Write cluster assignments atomically, video ids sorted."""
    checked = validate_clusters(assignments, source=str(path))
    write_json(path, {vid: checked[vid] for vid in sorted(checked)})
