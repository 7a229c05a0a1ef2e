"""Checks of the training inputs, so that a bad video, label or stream fails before the first step, by name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from cotal.data import FeatureDataset
from cotal.errors import DataError


def check_targets(targets: np.ndarray, video_ids: list[str], num_classes: int) -> np.ndarray:
    """Validate (N, C) label distributions; return them as float32."""
    if not video_ids:
        raise DataError("training: the list of training videos is empty")
    duplicates = sorted(v for v, n in Counter(video_ids).items() if n > 1)
    if duplicates:
        raise DataError(f"training: video id(s) listed twice: {', '.join(duplicates[:5])}")
    arr = np.asarray(targets)
    expected = (len(video_ids), num_classes)
    if arr.shape != expected:
        raise DataError(f"training: targets have shape {arr.shape}, expected (videos, classes) = {expected}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or (arr < 0).any():
        bad = int(np.argwhere(~np.isfinite(arr) | (arr < 0))[0, 0])
        raise DataError(f"training: targets of video {video_ids[bad]!r} are negative or not finite")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > 1e-4)
    if off.size:
        raise DataError(
            f"training: targets of video {video_ids[off[0]]!r} sum to {sums[off[0]]:.4g}, not 1 (a distribution)"
        )
    return arr


def check_groups(groups_of_video: Sequence[Sequence[int]], video_ids: list[str], num_classes: int) -> list[list[int]]:
    """Validate the per-video cluster/class ids (each in [0, C): the losses index A's columns with them)."""
    if len(groups_of_video) != len(video_ids):
        raise DataError(f"training: groups_of_video has {len(groups_of_video)} entries for {len(video_ids)} videos")
    out = []
    for vid, groups in zip(video_ids, groups_of_video, strict=True):
        ints = [int(g) for g in groups]
        if any(not 0 <= g < num_classes for g in ints):
            raise DataError(f"training: video {vid!r} has group id(s) {ints} outside [0, {num_classes})")
        out.append(ints)
    return out


def feature_lengths(dataset: FeatureDataset, video_ids: list[str], stream: str) -> np.ndarray:
    """Check the stream and its files; return the (N,) snippet counts (read from file headers)."""
    if stream not in dataset.streams:
        raise DataError(f"{dataset.root}: no {stream} features (has {', '.join(dataset.streams)})")
    lengths = np.empty(len(video_ids), dtype=np.int64)
    for i, vid in enumerate(video_ids):
        lengths[i] = dataset.feature_shape(vid, stream)[0]
    return lengths
