"""Video ids: the one grammar every reader and writer uses, and the one id -> file name mapping.

A video id is data, never a path. It is 1 to 200 bytes (UTF-8) of printable characters, contains no ``/``,
``\\`` or ``:``, does not start with ``.`` (no ``..``, no hidden files) and does not start or end with whitespace.
Such an id names the file ``<folder>/<id>.npy`` directly, which by construction lies inside ``<folder>``.
Everything else is refused with a :class:`DataError` naming the id and where it came from.
"""

from __future__ import annotations

import os
from pathlib import Path

from cotal.errors import DataError

# File names are limited to 255 bytes; the id also gets ".npy" and, while written, ".<pid>.<random>.tmp".
MAX_ID_BYTES = 200
_FORBIDDEN = frozenset("/\\:")


def id_problem(video_id: object) -> str | None:
    """Why ``video_id`` is not a valid video id, or None when it is."""
    if not isinstance(video_id, str):
        return f"must be a string, got {type(video_id).__name__}"
    if not video_id:
        return "is empty"
    if len(video_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"is longer than {MAX_ID_BYTES} bytes (UTF-8)"
    if not video_id.isprintable():
        return "contains a control or non-printable character"
    bad = sorted(_FORBIDDEN.intersection(video_id))
    if bad:
        return f"contains {' and '.join(repr(c) for c in bad)} (an id is a name, not a path)"
    if video_id.startswith("."):
        return "starts with '.' (an id is a name, not a path)"
    if video_id != video_id.strip():
        return "starts or ends with whitespace"
    return None


def check_video_id(video_id: object, where: str | os.PathLike) -> str:
    """Return ``video_id`` if valid, else raise ``DataError("<where>: video id <id>: <why>")``."""
    why = id_problem(video_id)
    if why is not None:
        shown = repr(video_id)[:80]
        raise DataError(f"{where}: video id {shown} {why}")
    return video_id  # type: ignore[return-value]


def video_file(folder: str | os.PathLike, video_id: str, suffix: str = ".npy") -> Path:
    """The file of ``video_id`` in ``folder`` (``<folder>/<id><suffix>``); an invalid id raises DataError.

    Every reader and writer of per-video files (checker, loader, converters, extraction) resolves files here.
    """
    folder = Path(folder)
    check_video_id(video_id, folder)
    return folder / f"{video_id}{suffix}"


def id_of_file(path: str | os.PathLike, suffix: str = ".npy") -> str | None:
    """The video id a file name stands for (the inverse of :func:`video_file`), or None if it is not one."""
    name = Path(path).name
    if not name.endswith(suffix):
        return None
    vid = name[: -len(suffix)]
    return vid if id_problem(vid) is None else None
