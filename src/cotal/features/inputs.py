"""What a run reads: files and folders expanded into video ids, one shard of them, and the ground truth to copy."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cotal.data.ids import id_problem
from cotal.errors import ConfigError
from cotal.utils.io import read_json

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")


def find_videos(paths: Iterable[str | os.PathLike]) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """Expand files and folders (searched recursively for video extensions) into ``{video id: path}``.

    The id is the file name without extension. Returns the videos and (path, reason) for inputs that do
    not exist or hold no video.

    Raises:
        ConfigError: two inputs share a video id.
    """
    videos: dict[str, Path] = {}
    problems: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not found:
                problems.append((str(path), f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder"))
        elif path.exists():
            found = [path]
        else:
            problems.append((str(path), "file not found"))
            continue
        for p in found:
            vid = p.stem
            why = id_problem(vid)
            if why is not None:  # the id names the feature files, so it must be a plain name
                problems.append((str(p), f"the file name gives the video id {vid!r}, which {why}; rename the file"))
                continue
            if vid in videos and videos[vid].resolve() != p.resolve():
                raise ConfigError(f"video id {vid!r} is given twice: {videos[vid]} and {p}; rename one of them")
            videos[vid] = p
    return dict(sorted(videos.items())), problems


def shard_ids(video_ids: Sequence[str], index: int, count: int) -> list[str]:
    """The ids of shard ``index`` of ``count``: every count-th id of the sorted list (a partition)."""
    return sorted(video_ids)[index::count]


def load_ground_truth(path: str | None) -> dict[str, Any]:
    """The ActivityNet-style JSON at ``path``, validated (its entries are copied as they are); {} for None."""
    if path is None:
        return {}
    from cotal.data.annotations import Annotations

    raw = read_json(path)
    Annotations.from_json(raw, source=str(path))  # validate before copying entries
    return raw
