"""What a run was made from: a cheap fingerprint of a dataset, so that resuming never mixes data silently.

A run folder caches every stage; reusing it with other data (even with the same video ids) would reuse clusters and
models computed from the old data. :func:`check_run_data` records the fingerprint in ``RUN/data.json`` on the
first run and refuses a later run whose data differs, naming what differs. The fingerprint reads no feature
data: the folder, the ids per subset, each file's shape (header), size and modification time, and a hash of the
ground truth and ``dataset.yaml``. The report pairs a run with a dataset only when :func:`compare_run_data` finds the
same content (a copied or moved dataset passes), and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cotal.data.dataset import FeatureDataset
from cotal.errors import ConfigError, DataError
from cotal.utils.io import read_json, sha256_file, write_json
from cotal.utils.text import short_repr

RUN_DATA = "data.json"


def _digest(items: Any) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]


def dataset_fingerprint(dataset: FeatureDataset) -> dict[str, Any]:
    """A JSON-able summary that changes when the dataset's folder, ids, files or annotations change."""
    content = content_fingerprint(dataset)
    return {
        "path": str(dataset.root.resolve()),
        "train_ids": content["train_ids"],
        "test_ids": content["test_ids"],
        "videos": content["videos"],
        "feature_files": _feature_files(dataset),
        "annotations": content["annotations"],
        "dataset.yaml": content["dataset.yaml"],
    }


def content_fingerprint(dataset: FeatureDataset) -> dict[str, Any]:
    """The part of :func:`dataset_fingerprint` that a copy or move of the dataset keeps: ids per subset, the number
    of videos, and hashes of the ground truth and ``dataset.yaml`` (not the folder, not the feature files' times)."""
    meta = dataset.root / "dataset.yaml"
    return {
        "train_ids": _digest(dataset.train_ids),
        "test_ids": _digest(dataset.test_ids),
        "videos": len(dataset),
        "annotations": sha256_file(dataset.root / "annotations.json")[:16],
        "dataset.yaml": sha256_file(meta)[:16] if meta.is_file() else None,
    }


def _feature_files(dataset: FeatureDataset) -> str:
    files = []
    for vid in dataset.video_ids():
        for stream in dataset.streams:
            path = dataset.feature_path(vid, stream)
            stat = path.stat() if path.is_file() else None
            shape = list(dataset.feature_shape(vid, stream)) if stat else None
            files.append([vid, stream, shape, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return _digest(files)


def _saved(path: Path) -> dict[str, Any]:
    saved = read_json(path)
    if not isinstance(saved, dict):
        raise DataError(f"{path}: malformed; expected an object")
    return saved


def _difference(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first component of ``current`` that ``saved`` records otherwise, described; None when all agree."""
    for key, value in current.items():
        if saved.get(key) != value:
            return f"{key} differs: {short_repr(saved.get(key))} then, {short_repr(value)} now"
    return None


def check_run_data(run_dir: str | os.PathLike, dataset: FeatureDataset) -> None:
    """Record the dataset's fingerprint in a new run; in an existing one, refuse data that differs.

    Raises:
        ConfigError: the run was made from other data (names the first component that differs).
        DataError: ``RUN/data.json`` is malformed.
    """
    path = Path(run_dir) / RUN_DATA
    current = dataset_fingerprint(dataset)
    if path.exists():
        diff = _difference(_saved(path), current)
        if diff is not None:
            raise ConfigError(
                f"{run_dir}: was made from other data ({diff}); "
                "choose another --out, or use the same data unchanged to resume"
            )
        return
    write_json(path, current)


def compare_run_data(run_dir: str | os.PathLike, dataset: FeatureDataset) -> bool:
    """Refuse a dataset other than the one ``run_dir`` was made from, by :func:`content_fingerprint` (a moved or
    copied dataset passes); writes nothing. Returns False when the run records no fingerprint.

    Raises:
        ConfigError: names the first component that differs.
        DataError: ``RUN/data.json`` is malformed.
    """
    path = Path(run_dir) / RUN_DATA
    if not path.exists():
        return False
    diff = _difference(_saved(path), content_fingerprint(dataset))
    if diff is not None:
        raise ConfigError(
            f"{dataset.root}: is not the dataset {run_dir} was made from ({diff}); pass that dataset with --data"
        )
    return True
