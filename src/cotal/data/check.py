"""``check_dataset``: every problem of a native-layout dataset, one :class:`Problem` each.

Fast on large sets: shapes and dtypes come from the ``.npy`` headers, values are scanned for NaN/Inf through a
memory map in bounded blocks (``scan_values=False`` skips that scan).
"""

from __future__ import annotations

import os
from pathlib import Path

from cotal.data.annotations import Annotations
from cotal.data.dataset import STREAMS, DatasetMeta
from cotal.data.ids import id_of_file, video_file
from cotal.data.problems import (
    Problem,
    annotation_problems,
    dim_problems,
    length_problem,
    missing_file_problem,
    open_feature_file,
    stream_length_problem,
    subset_problems,
    value_problem,
)
from cotal.errors import DataError
from cotal.utils.io import read_json


def check_dataset(root: str | os.PathLike, scan_values: bool = True) -> list[Problem]:
    """Check a dataset folder in the native layout (see docs/data.md for the list and tolerances).

    Args:
        root: dataset folder (dataset.yaml, annotations.json, rgb/ and/or flow/).
        scan_values: scan every feature value for NaN/Inf (reads all data once).
    Returns:
        Problems ordered by kind: dataset.yaml, annotations.json, feature folders, then per file.
    """
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a dataset folder" if root.exists() else "dataset folder not found"
        return [Problem(path=str(root), message=what)]
    problems: list[Problem] = []

    meta_path = root / "dataset.yaml"
    meta = DatasetMeta()
    if meta_path.exists():
        try:
            meta = DatasetMeta.load(meta_path)
        except DataError as e:
            problems.append(Problem.from_error(meta_path, e))

    ann_path = root / "annotations.json"
    annotations: Annotations | None = None
    broken: set[str] = set()  # videos listed in annotations.json whose entry is malformed
    try:
        raw = read_json(ann_path)
        annotations, structural = Annotations.parse(raw, str(ann_path))
        database = raw.get("database") if isinstance(raw, dict) else None
        if isinstance(database, dict):
            broken = set(database) - set(annotations)
        else:
            annotations = None
    except DataError as e:
        structural = [str(e)]
    problems += [Problem.from_error(ann_path, DataError(text)) for text in structural]
    if annotations is not None and not structural:  # subsets are judged on the whole ground truth only
        problems += subset_problems(meta_path, meta.train_subset, meta.test_subset, annotations)
    if annotations is not None:
        problems += annotation_problems(ann_path, annotations)

    streams = [s for s in STREAMS if (root / s).is_dir()]
    if not streams:
        problems.append(Problem(path=str(root), message=f"no feature folder; expected {' and/or '.join(STREAMS)}/"))
    lengths: dict[str, dict[str, int]] = {}  # video -> stream -> T
    for stream in streams:
        problems += _check_stream(root / stream, stream, annotations, broken, meta, scan_values, lengths)
    for vid in sorted(lengths):
        problem = stream_length_problem(root, vid, lengths[vid])
        if problem is not None:
            problems.append(problem)
    return problems


def _check_stream(
    folder: Path,
    stream: str,
    annotations: Annotations | None,
    broken: set[str],
    meta: DatasetMeta,
    scan_values: bool,
    lengths: dict[str, dict[str, int]],
) -> list[Problem]:
    """Problems of one stream folder; records each readable file's T in ``lengths[video][stream]``.

    Files of ``broken`` videos (malformed in annotations.json, already reported) are checked on their own only."""
    problems: list[Problem] = []
    present = {}
    for entry in sorted(folder.iterdir()):
        vid = id_of_file(entry)  # the inverse of video_file, which the loader opens
        if vid is not None and entry.is_file():
            present[vid] = entry
        elif not entry.name.startswith("."):
            problems.append(
                Problem(path=str(entry), message=f"unexpected entry in {stream}/ (expected <video_id>.npy)")
            )
    if annotations is not None:
        problems += [missing_file_problem(video_file(folder, vid)) for vid in sorted(set(annotations) - set(present))]
        problems += [
            Problem(path=str(path), message=f"video {vid!r} is not in annotations.json")
            for vid, path in sorted(present.items())
            if vid not in annotations and vid not in broken
        ]
    dims: dict[str, int] = {}
    for vid, path in sorted(present.items()):
        arr, problem = open_feature_file(path, mmap=True)
        if arr is None:
            problems.append(problem)
            continue
        dims[vid] = arr.shape[1]
        lengths.setdefault(vid, {})[stream] = arr.shape[0]
        found = [value_problem(path, arr) if scan_values else None]
        if annotations is not None and vid in annotations:
            found.append(length_problem(path, arr.shape[0], annotations[vid].duration, meta.timing))
        problems += [p for p in found if p is not None]
        del arr  # unmap before the next file
    return problems + dim_problems(folder, dims)
