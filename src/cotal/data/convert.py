"""Convert a published layout into the native one, atomically.

Everything is written into a temporary folder beside the destination and renamed onto it at the end, so an
error (or Ctrl-C) leaves either the old destination or nothing, never a half-written dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cotal.data.ids import video_file
from cotal.data.readers import read_published
from cotal.utils.io import write_json, write_npy
from cotal.utils.outdir import check_target, staged_folder


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
        overwrite: replace a non-empty ``out`` that cotal made (only once the new dataset is complete).
        options: ``allow_pickle``, ``fps``, ``stride``, ``train_subset``, ``test_subset`` (see
            :func:`cotal.data.readers.read_published`).
    Raises:
        ConfigError: ``out`` is a file, overlaps ``src``, or is not empty (without ``overwrite``, or not a
            dataset folder cotal made).
        DataError: the source is malformed; nothing is written.
    """
    sources = [src, *(options.get(key) for key in ("annotations", "features") if options.get(key) is not None)]
    out = check_target(out, "dataset", inputs=sources, overwrite=overwrite)
    source = read_published(src, layout, **options)
    with staged_folder(out, "dataset") as tmp:
        source.meta.save(tmp / "dataset.yaml")
        write_json(tmp / "annotations.json", source.annotations.to_json())
        for vid in source.video_ids:
            for stream, x in source.features(vid).items():
                write_npy(video_file(tmp / stream, vid), x)
    return ConvertReport(out=out, videos=len(source.video_ids), streams=source.streams, dropped=tuple(source.dropped))
