"""The ActionFormer layout (THUMOS14 I3D, ActivityNet-1.3 TSP and the like), read for ``cotal data convert``.

A source folder holds one annotation JSON under ``annotations/`` (``thumos14.json``, ``anet1.3_*.json``) and
one folder of per-video ``.npy`` features (``i3d_features/``, ``tsp_features/``); both can be named instead.
The JSON is ActivityNet-style: ``{"database": {video: {"subset", "duration", "fps", "annotations": [{"label",
"segment", "label_id"}]}}}``. Features are (T, D) float arrays, one row every ``feat_stride`` frames, each computed
on ``num_frames`` frames (THUMOS14: 4 and 16 at 30 fps; ActivityNet TSP: 16 and 16), so times carry the
window-vs-stride offset of :class:`cotal.data.timing.SnippetTiming` (``window`` = num_frames).

- Ids: ActivityNet-1.3 feature files are often named ``v_<id>.npy`` while the JSON says ``<id>`` (or the reverse);
  a video's file is found under its id, ``v_`` + id, or the id without ``v_``. The JSON's id is kept.
- Subsets are lower-cased ("Validation" -> "validation"), so the usual train/test pairs are recognised.
- Joint RGB+flow features (THUMOS14 I3D: 2048 = 1024 RGB then 1024 flow) are split into the two streams at
  ``rgb_dim`` (default: half of D); ``rgb_dim=D`` keeps one ``rgb`` stream (e.g. TSP).
- ``label_id`` must name each class consistently; cotal itself indexes classes by sorted name.
- Per-video ``fps`` must agree across videos (cotal's layout has one timing); pass ``fps`` when the JSON has none.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterable
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation
from cotal.data.dataset import DatasetMeta, load_feature_file
from cotal.data.published import KNOWN_SPLITS, PublishedDataset
from cotal.errors import ConfigError, DataError
from cotal.utils.io import read_json

PREFIX = "v_"


def _one(paths: list[Path], what: str, root: Path, option: str) -> Path:
    if len(paths) != 1:
        found = ", ".join(p.name for p in paths) or "none"
        raise DataError(f"{root}: expected one {what} (found {found}); name it with {option}")
    return paths[0]


def id_variants(video_id: str) -> list[str]:
    """``video_id`` as given, with ``v_`` added, and without it (ActivityNet ids appear in all three forms)."""
    out = [video_id, PREFIX + video_id]
    if video_id.startswith(PREFIX):
        out.append(video_id[len(PREFIX) :])
    return out


def match_ids(ids: Iterable[str], known: Container[str]) -> dict[str, str]:
    """``{id: its known form}`` for the ids that are not known as given but are with ``v_`` added or removed."""
    out = {}
    for vid in ids:
        if vid not in known:
            match = next((v for v in id_variants(vid)[1:] if v in known), None)
            if match is not None:
                out[vid] = match
    return out


def feature_file(folder: Path, video_id: str) -> Path | None:
    """The feature file of ``video_id`` in ``folder``: under the id, with ``v_`` added, or with ``v_`` removed."""
    return next((folder / f"{n}.npy" for n in id_variants(video_id) if (folder / f"{n}.npy").is_file()), None)


def read_actionformer(
    src: str | os.PathLike,
    *,
    stride: float,
    window: float,
    fps: float | None = None,
    annotations: str | os.PathLike | None = None,
    features: str | os.PathLike | None = None,
    rgb_dim: int | None = None,
    train_subset: str | None = None,
    test_subset: str | None = None,
) -> PublishedDataset:
    """Read an ActionFormer-layout dataset (see the module docstring) as a :class:`PublishedDataset`.

    Args:
        src: the dataset folder (ActionFormer's ``data/thumos``).
        stride: ActionFormer's ``feat_stride`` (frames between features).
        window: ActionFormer's ``num_frames`` (frames per feature).
        fps: frame rate when the JSON gives none per video.
        annotations: the JSON (default: the one ``src/annotations/*.json``).
        features: the feature folder (default: the one sub-folder of ``src`` holding ``.npy`` files).
        rgb_dim: split joint features after this many dims (default D/2; D: one ``rgb`` stream).
        train_subset, test_subset: override the inferred subset names.
    """
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: ActionFormer dataset folder not found")
    ann_path, feat_dir = _locate(root, annotations, features)
    videos, files, dropped, fps_values = _read_database(ann_path, feat_dir)
    if fps is None:
        if len(fps_values) != 1:
            what = ", ".join(map(str, sorted(fps_values))) if fps_values else "none"
            raise DataError(
                f"{ann_path}: per-video fps {what}; one timing per dataset in cotal: pass --fps if they share one"
            )
        fps = fps_values.pop()
    found = {v.subset for v in videos.values()}
    known = next((pair for subsets, pair in KNOWN_SPLITS.items() if subsets <= found), None)
    if (train_subset is None or test_subset is None) and known is None:
        raise ConfigError(
            f"{ann_path}: subsets {', '.join(sorted(found))}; name them with --train-subset/--test-subset"
        )
    train, test = train_subset or known[0], test_subset or known[1]
    first = load_feature_file(next(iter(files.values())))
    dim = first.shape[1]
    split = dim // 2 if rgb_dim is None else rgb_dim
    if not 0 < split <= dim:
        raise ConfigError(f"--rgb-dim must be in 1..{dim} (the features' dimension), got {split}")
    streams = ("rgb",) if split == dim else ("rgb", "flow")

    def load(vid: str) -> dict[str, np.ndarray]:
        x = np.asarray(load_feature_file(files[vid]), dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != dim:
            raise DataError(f"{files[vid]}: shape {x.shape}, expected (T, {dim}) like the other videos")
        return {"rgb": x[:, :split]} if split == dim else {"rgb": x[:, :split], "flow": x[:, split:]}

    meta = DatasetMeta(
        fps=float(fps), stride=float(stride), window=float(window), train_subset=train, test_subset=test, name=root.name
    )
    return PublishedDataset(
        source=str(root),
        meta=meta,
        annotations=Annotations(videos=videos),
        streams=streams,
        load=load,
        dropped=sorted(dropped),
    )


def _locate(root: Path, annotations: str | os.PathLike | None, features: str | os.PathLike | None) -> tuple[Path, Path]:
    """The annotation JSON and the feature folder: as given, or the only candidate inside ``root``."""
    ann_path = (
        Path(annotations)
        if annotations
        else _one(sorted(root.glob("annotations/*.json")), "annotation JSON", root, "--annotations")
    )
    if features:
        return ann_path, Path(features)
    folders = sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.npy")))
    return ann_path, _one(folders, "feature folder", root, "--features")


def _read_database(
    ann_path: Path, feat_dir: Path
) -> tuple[dict[str, VideoAnnotation], dict[str, Path], list[str], set[float]]:
    """The videos of the JSON that have a feature file: (annotations, feature files, dropped ids, fps values)."""
    raw = read_json(ann_path)
    db = raw.get("database") if isinstance(raw, dict) else None
    if not isinstance(db, dict):
        raise DataError(f"{ann_path}: expected an ActivityNet-style object with a 'database' mapping")
    fps_values, label_ids, videos, dropped, files = set(), {}, {}, [], {}
    for vid, rec in db.items():
        path = feature_file(feat_dir, vid)
        if path is None:
            dropped.append(vid)
            continue
        try:
            duration = float(rec["duration"])
            subset = str(rec["subset"]).lower()
            anns = rec.get("annotations", [])
            segments = np.array([[float(a["segment"][0]), float(a["segment"][1])] for a in anns]).reshape(-1, 2)
            labels = tuple(str(a["label"]) for a in anns)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise DataError(f"{ann_path}: video {vid!r}: malformed entry ({type(e).__name__}: {e})") from None
        for a in anns:
            if "label_id" in a and label_ids.setdefault(a["label"], a["label_id"]) != a["label_id"]:
                raise DataError(
                    f"{ann_path}: class {a['label']!r} has label_id {a['label_id']} and {label_ids[a['label']]}"
                )
        if rec.get("fps") is not None:
            fps_values.add(round(float(rec["fps"]), 3))
        videos[vid] = VideoAnnotation(video_id=vid, subset=subset, duration=duration, segments=segments, labels=labels)
        files[vid] = path
    if not videos:
        raise DataError(f"{feat_dir}: no feature file matches a video of {ann_path} (tried <id>.npy and v_<id>.npy)")
    if len(set(label_ids.values())) != len(label_ids):
        raise DataError(f"{ann_path}: two classes share a label_id")
    return videos, files, dropped, fps_values
