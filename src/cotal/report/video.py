"""Pictures for the report from the dataset's video files: where ``cotal extract`` found each video, and keyframes.

Decoding needs the ``extract`` extra; an unreadable video loses its pictures, never the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cotal.errors import DataError
from cotal.utils.io import read_json


def video_sources(data: str | os.PathLike) -> dict[str, Path]:
    """Video files of a dataset written by ``cotal extract`` (from ``.parts/<video>.json``), where they exist."""
    from cotal.features.outputs import PARTS

    out = {}
    for part in sorted(Path(data, PARTS).glob("*.json")):
        try:
            rec = read_json(part)
        except DataError:
            continue
        src = rec.get("source")
        if isinstance(rec.get("video_id"), str) and isinstance(src, str) and Path(src).is_file():
            out[rec["video_id"]] = Path(src)
    return out


def keyframes(path: Path, times: Sequence[float], size: int = 72) -> list[tuple[float, np.ndarray]]:
    """Frames of ``path`` nearest to ``times`` (seconds), shorter side ``size`` pixels; decodes once."""
    from cotal.features.video import iter_frames

    want = sorted(times)
    fps = 4.0  # fine enough to land within 1/8 s of a wanted time
    got: list[tuple[float, np.ndarray]] = []
    k = 0
    prev = None
    for t, image in iter_frames(path, fps=fps, resize_short=size, crop=0):
        while k < len(want) and want[k] <= t:
            pick = image if prev is None or abs(t - want[k]) <= abs(prev[0] - want[k]) else prev[1]
            got.append((want[k], pick))
            k += 1
        if k == len(want):
            break
        prev = (t, image)
    got.extend((w, prev[1]) for w in want[k:] if prev is not None)  # times past the last decoded frame
    return got


def filmstrip_frames(path: Path, duration: float, count: int = 10) -> list[tuple[float, np.ndarray]] | None:
    """``count`` keyframes at the centres of equal slices of ``duration`` seconds; ``None`` when unreadable."""
    try:
        return keyframes(path, [(i + 0.5) * duration / count for i in range(count)])
    except DataError:
        return None


def frame_at(path: Path, t: float) -> np.ndarray | None:
    """The keyframe of ``path`` nearest ``t`` seconds; ``None`` when the video is unreadable or has no frame."""
    try:
        ((_, image),) = keyframes(path, [t])
    except (DataError, ValueError):
        return None
    return image
