"""Pictures for the report from the dataset's video files: where ``cotal extract`` found each video, and keyframes.

A ``.parts`` record is data, and its ``source`` could name any file on the machine: the report decodes only files
that lie, links followed, inside the folder the user names (``--videos DIR``), and none without it.
Decoding needs the ``extract`` extra; an unreadable video loses its pictures, never the report.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cotal.errors import ConfigError, DataError
from cotal.utils.io import read_json
from cotal.utils.text import short_repr


def video_sources(data: str | os.PathLike, video_dir: str | os.PathLike) -> dict[str, Path]:
    """Video files of a dataset written by ``cotal extract`` (from ``.parts/<video>.json``): video id -> the
    recorded ``source`` resolved, for those that are files inside ``video_dir``. The others are left out, with one
    warning naming the first.

    Raises:
        ConfigError: ``video_dir`` is not a folder.
    """
    from cotal.features.outputs import PARTS

    root = Path(video_dir).resolve()
    if not root.is_dir():
        raise ConfigError(f"{video_dir}: --videos must be the folder holding the dataset's video files")
    out: dict[str, Path] = {}
    refused: list[tuple[str, str]] = []
    for part in sorted(Path(data, PARTS).glob("*.json")):
        try:
            rec = read_json(part)
        except DataError:
            continue
        vid, src = (rec.get("video_id"), rec.get("source")) if isinstance(rec, dict) else (None, None)
        if isinstance(vid, str) and isinstance(src, str):
            path, problem = _inside(src, root)
            if problem is None:
                out[vid] = path
            else:
                refused.append((src, problem))
    if refused:
        src, problem = refused[0]
        warnings.warn(
            f"{Path(data, PARTS)}: {len(refused)} recorded video file(s) left out of the pictures, e.g. "
            f"{short_repr(src)}, which {problem}",
            stacklevel=2,
        )
    return out


def _inside(source: str, root: Path) -> tuple[Path, str | None]:
    """``source`` resolved, and why it may not be read (None when it is a file inside ``root``)."""
    try:
        path = Path(source).resolve()
    except (OSError, RuntimeError, ValueError):  # a loop of links, a NUL byte
        return Path(source), "cannot be resolved"
    if not path.is_relative_to(root):
        via = " through a symbolic link" if Path(source).absolute().is_relative_to(root) else ""
        return path, f"lies outside --videos {root}{via}"
    if not path.is_file():
        return path, "is not a file"
    return path, None


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
