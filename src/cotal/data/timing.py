"""Snippet index <-> seconds. The one place in cotal where time is converted.

Field convention: a snippet is ``stride`` consecutive frames at ``fps``; snippet ``i`` covers
``[i * stride / fps, (i + 1) * stride / fps)`` seconds (16 frames at 25 fps: 0.64 s per snippet).

Features computed on windows longer than their stride (ActionFormer's THUMOS14 I3D: a 16-frame window every 4
frames at 30 fps) set ``window``: feature i then describes frames ``[i * stride, i * stride + window)``, centred
``(window - stride) / 2`` frames after the plain convention's centre, so every time is shifted by
``offset_seconds = (window - stride) / (2 * fps)``: snippet i covers the stride-long interval around its
window's centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cotal.errors import DataError

# More snippets than any video could have (and than a float counts exactly): the timing or duration is wrong.
MAX_COUNT = 2.0**53


@dataclass(frozen=True)
class SnippetTiming:
    """Timing of a feature sequence.

    Args:
        fps: frames per second the features were extracted at.
        stride: frames between consecutive features.
        window: frames each feature was computed on (None: ``stride``, the usual non-overlapping snippets).
    """

    fps: float = 25.0
    stride: float = 16.0
    window: float | None = None

    def __post_init__(self) -> None:
        for name in ("fps", "stride", "window"):
            v = getattr(self, name)
            if name == "window" and v is None:
                continue
            if not np.isfinite(v) or v <= 0:
                raise DataError(f"snippet timing: {name} must be a positive number, got {v!r}")
        if self.window is not None and self.window < self.stride:
            raise DataError(f"snippet timing: window ({self.window:g} frames) is shorter than stride ({self.stride:g})")

    @property
    def offset_seconds(self) -> float:
        """Shift of every time for windows longer than the stride (0 for plain snippets)."""
        return 0.0 if self.window is None else (self.window - self.stride) / (2.0 * self.fps)

    def duration(self, num_snippets: int) -> float:
        """Seconds covered by ``num_snippets`` features: to the end of the last one's window."""
        return num_snippets * self.seconds_per_snippet + 2.0 * self.offset_seconds

    @property
    def seconds_per_snippet(self) -> float:
        """Length of one snippet in seconds (stride / fps)."""
        return self.stride / self.fps

    def to_seconds(self, index: float | np.ndarray) -> float | np.ndarray:
        """Start time in seconds of (possibly fractional) snippet position ``index``.

        Segment ``[s, e)`` in snippet units maps to ``[to_seconds(s), to_seconds(e))``.
        """
        out = np.asarray(index, dtype=np.float64) * self.seconds_per_snippet + self.offset_seconds
        return float(out) if out.ndim == 0 else out

    def to_index(self, seconds: float | np.ndarray) -> float | np.ndarray:
        """Continuous snippet position of a time in seconds (inverse of :meth:`to_seconds`)."""
        out = (np.asarray(seconds, dtype=np.float64) - self.offset_seconds) / self.seconds_per_snippet
        return float(out) if out.ndim == 0 else out

    def expected_snippets(self, duration: float) -> int:
        """Number of whole snippets in a video of ``duration`` seconds: floor(duration * fps / stride), or with a
        longer window the windows that fit: floor((duration * fps - window) / stride) + 1."""
        frames = duration * self.fps - (0.0 if self.window is None else self.window)
        count = frames / self.stride + 1e-9
        if not np.isfinite(count) or count > MAX_COUNT:
            raise DataError(
                f"snippet timing: {duration:g} s at fps {self.fps:g} / stride {self.stride:g} gives no countable "
                "number of snippets; check fps and stride"
            )
        if self.window is None:
            return int(np.floor(count))
        return max(0, int(np.floor(count)) + 1)

    def segment_mask(self, segments: np.ndarray, num_snippets: int) -> np.ndarray:
        """Fraction of each snippet covered by the union of ``segments``.

        Args:
            segments: (K, 2) start/end seconds.
            num_snippets: T.
        Returns:
            (T,) float64 in [0, 1].
        """
        starts = np.asarray(self.to_seconds(np.arange(num_snippets)), dtype=np.float64).reshape(-1)
        ends = starts + self.seconds_per_snippet
        merged = merge_intervals(np.asarray(segments, dtype=np.float64).reshape(-1, 2))
        if len(merged) == 0:
            return np.zeros(num_snippets, dtype=np.float64)
        # Overlap with the merged union so that overlapping segments do not count twice.
        overlap = np.minimum(ends[:, None], merged[None, :, 1]) - np.maximum(starts[:, None], merged[None, :, 0])
        return np.clip(overlap, 0, None).sum(axis=1) / self.seconds_per_snippet


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Union of intervals. (K, 2) -> (K', 2) sorted, non-overlapping."""
    if len(intervals) == 0:
        return intervals.reshape(0, 2)
    iv = intervals[np.argsort(intervals[:, 0], kind="stable")]
    out = [list(iv[0])]
    for s, e in iv[1:]:
        if s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return np.asarray(out, dtype=np.float64)
