"""Convert a published layout into the native one, atomically.

Everything is written into a temporary folder beside the destination and renamed onto it at the end, so an
error (or Ctrl-C) leaves either the old destination or nothing, never a half-written dataset.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotal.data.readers import read_published
from cotal.errors import ConfigError
from cotal.utils.io import staging_dir, write_json, write_npy


@dataclass(frozen=True)
class ConvertReport:
    """What :func:`convert_dataset` wrote.

    Attributes:
        out: the native dataset folder.
        videos: number of videos written.
        streams: streams written.
        dropped: annotated videos of the source that had no features (not written).
    """

    out: Path
    videos: int
    streams: tuple[str, ...]
    dropped: tuple[str, ...]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def convert_dataset(
    src: str | os.PathLike,
    out: str | os.PathLike,
    layout: str,
    *,
    overwrite: bool = False,
    **options: Any,
) -> ConvertReport:
    """Read ``src`` in ``layout`` and write the native layout to ``out`` as plain float32 arrays.

    Args:
        src: source folder (or W-TALC features file).
        out: destination folder; must be absent or empty unless ``overwrite``.
        layout: ``"wtalc"`` or ``"um"``.
        overwrite: replace a non-empty ``out`` (only once the new dataset is complete).
        options: ``allow_pickle``, ``fps``, ``stride``, ``train_subset``, ``test_subset`` (see
            :func:`cotal.data.readers.read_published`).
    Raises:
        ConfigError: ``out`` is not empty (without ``overwrite``), is a file, or overlaps ``src``.
        DataError: the source is malformed; nothing is written.
    """
    out = Path(out).resolve()
    if _inside(Path(src).resolve(), out):
        raise ConfigError(f"{out}: the output folder must not be or contain the source {src}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: folder is not empty; pass --overwrite to replace it")
    source = read_published(src, layout, **options)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(out)
    try:
        source.meta.save(tmp / "dataset.yaml")
        write_json(tmp / "annotations.json", source.annotations.to_json())
        for vid in source.video_ids:
            for stream, x in source.features(vid).items():
                write_npy(tmp / stream / f"{vid}.npy", x)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ConvertReport(out=out, videos=len(source.video_ids), streams=source.streams, dropped=tuple(source.dropped))


def _replace_dir(new: Path, dest: Path) -> None:
    """Rename ``new`` onto ``dest``; an existing ``dest`` is moved aside first and deleted afterwards."""
    if not dest.exists():
        os.rename(new, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    os.rename(dest, old / dest.name)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old / dest.name, dest)  # put the previous dataset back
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(old)
