"""Annotations of a folder of features that has no ``annotations.json`` (new, unlabelled videos).

``cotal detect`` on new videos needs only their features and ``dataset.yaml``: every video with a feature file in
each stream folder is listed, in the dataset's test subset, with the duration its T features cover under the
dataset's timing (:meth:`SnippetTiming.duration`) and no segments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation
from cotal.data.problems import read_npy_header
from cotal.data.timing import SnippetTiming
from cotal.errors import DataError


def annotations_from_features(
    root: str | Path, timing: SnippetTiming, subset: str, streams: tuple[str, ...]
) -> Annotations:
    """Unlabelled annotations of the videos with a ``<stream>/<video>.npy`` in every stream folder of ``root``.

    Raises:
        DataError: no stream folder, no video in all of them, or an unreadable feature file (named).
    """
    root = Path(root)
    present = [s for s in streams if (root / s).is_dir()]
    if not present:
        raise DataError(f"{root}: no annotations.json and no feature folder ({' or '.join(streams)}/<video_id>.npy)")
    ids = set.intersection(*({p.stem for p in (root / s).glob("*.npy")} for s in present))
    if not ids:
        raise DataError(f"{root}: no annotations.json and no video with features in every one of {', '.join(present)}")
    videos = {}
    for vid in sorted(ids):
        header, problem = read_npy_header(root / present[0] / f"{vid}.npy")
        if problem is not None:
            raise problem.error()
        videos[vid] = VideoAnnotation(
            video_id=vid,
            subset=subset,
            duration=timing.duration(int(header.shape[0])),
            segments=np.zeros((0, 2)),
            labels=(),
        )
    return Annotations(videos=videos)
