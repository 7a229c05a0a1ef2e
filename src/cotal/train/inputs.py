"""Checks of the training inputs, so that a bad video, label or stream fails before the first step, by name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from cotal.data import FeatureDataset
from cotal.data.problems import stream_length_problem
from cotal.errors import ConfigError, DataError


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


def feature_lengths(dataset: FeatureDataset, video_ids: list[str], streams: tuple[str, ...], in_dim: int) -> np.ndarray:
    """Check streams, files and dims; return the (N,) snippet counts (read from file headers)."""
    missing = [s for s in streams if s not in dataset.streams]
    if missing:
        raise DataError(f"{dataset.root}: no {', '.join(missing)} features (has {dataset.streams})")
    dim = sum(dataset.feature_dim(s) for s in streams)
    if dim != in_dim:
        raise ConfigError(f"model.in_dim is {in_dim} but stream(s) {'+'.join(streams)} have {dim}")
    lengths = np.empty(len(video_ids), dtype=np.int64)
    for i, vid in enumerate(video_ids):
        per_stream = {s: dataset.feature_shape(vid, s)[0] for s in streams}
        problem = stream_length_problem(dataset.root, vid, per_stream)
        if problem is not None:
            raise problem.error()
        lengths[i] = per_stream[streams[0]]
    return lengths
