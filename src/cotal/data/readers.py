"""Readers for the feature layouts the field publishes (docs/method.md §2); ``cotal data convert`` uses them.

- W-TALC "joint": ``<Name>-<Type>-JOINTFeatures.npy``, a pickled object array of (T, D_rgb + D_flow) arrays
  (RGB first), aligned with ``<Name>-Annotations/``: ``videoname.npy``, ``subset.npy``, ``classlist.npy`` (byte
  strings), ``duration.npy`` (N or N x 1 seconds), ``segments.npy`` (per video a list of [start, end] seconds)
  and ``labels.npy`` (per video the class of each segment), the last two pickled object arrays; an optional
  ``Ambiguous_test.txt`` holds lines ``<video> <class> <start> <end>``.
- UM / BaS-Net: ``features/{train,test}/{rgb,flow}/<video>.npy`` (T, D) plus an ActivityNet-style ``gt.json``;
  optional ``split_{train,test}.txt`` (one video per line) choose the videos. ``fps_dict.json`` gives each
  source video's frame rate (used only for point labels) and is not needed here.

Pickled files are read only with ``allow_pickle=True``: unpickling can run arbitrary code. Even then cotal uses
a restricted unpickler that resolves nothing but numpy's array and scalar constructors, so a hostile file fails
with a :class:`DataError` instead of running code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cotal.data.actionformer import read_actionformer
from cotal.data.annotations import Annotations, VideoAnnotation
from cotal.data.dataset import STREAMS, DatasetMeta, load_feature_file
from cotal.data.ids import check_video_id, video_file
from cotal.data.problems import read_npy_header, value_problem
from cotal.data.published import KNOWN_SPLITS, PublishedDataset
from cotal.errors import ConfigError, DataError
from cotal.utils.io import NumpyOnlyUnpickler, read_json

LAYOUTS = ("wtalc", "um", "actionformer")
JOINT_SUFFIX = "-JOINTFeatures.npy"


def load_pickled_npy(path: str | os.PathLike, allow_pickle: bool = False) -> np.ndarray:
    """Load a ``.npy`` file that may hold a pickled object array (W-TALC files).

    Args:
        path: the file.
        allow_pickle: explicit opt-in; without it an object array raises :class:`DataError`.
    Returns:
        The array (object dtype for pickled files).
    """
    path = Path(path)
    header, problem = read_npy_header(path)
    if problem is not None:
        raise problem.error()
    if not header.dtype.hasobject:
        return np.load(path, allow_pickle=False)
    if not allow_pickle:
        raise DataError(
            f"{path}: holds pickled Python objects; unpickling a file can run arbitrary code, so cotal reads it only "
            "when you opt in (allow_pickle=True / --allow-pickle) for a file from a source you trust"
        )
    with open(path, "rb") as fh:
        fh.seek(header.data_offset)
        try:
            arr = NumpyOnlyUnpickler(fh, path, encoding="bytes").load()
        except DataError:
            raise
        except Exception as e:  # pickle raises many types on corrupt input
            raise DataError(f"{path}: corrupt pickled .npy file ({type(e).__name__}: {e})") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: expected a pickled numpy array, got {type(arr).__name__}")
    return arr


def _text(x: Any) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


# -- W-TALC -------------------------------------------------------------------------------------------------------
def locate_wtalc(src: str | os.PathLike) -> tuple[Path, Path]:
    """Find ``(joint features file, annotations folder)`` from a folder or from the features file itself.

    The annotations folder is ``<Name>-Annotations`` beside the features file, or the same folder when that
    holds ``videoname.npy``.
    """
    src = Path(src)
    if src.is_file():
        feats = src
    elif src.is_dir():
        found = sorted(src.glob(f"*{JOINT_SUFFIX}"))
        if len(found) != 1:
            listed = ", ".join(p.name for p in found) or "none"
            raise DataError(f"{src}: expected exactly one *{JOINT_SUFFIX} file, found {listed}")
        feats = found[0]
    else:
        raise DataError(f"{src}: not found")
    if not feats.name.endswith(JOINT_SUFFIX):
        raise DataError(f"{feats}: a W-TALC features file is named <Name>-<Type>{JOINT_SUFFIX}")
    name = feats.name[: -len(JOINT_SUFFIX)].rsplit("-", 1)[0]
    for ann_dir in (feats.parent / f"{name}-Annotations", feats.parent):
        if (ann_dir / "videoname.npy").is_file():
            return feats, ann_dir
    raise DataError(f"{feats.parent}: no {name}-Annotations/videoname.npy (nor videoname.npy) beside {feats.name}")


def _resolve_subsets(where: str, found: set[str], train_subset: str | None, test_subset: str | None) -> tuple[str, str]:
    """Train/test subset names: given, or inferred when a source uses THUMOS14's or ActivityNet's pair."""
    if train_subset and test_subset:
        return train_subset, test_subset
    known = KNOWN_SPLITS.get(frozenset(found))
    if known is None:
        raise ConfigError(
            f"{where}: cannot tell the train and test subsets from {sorted(found)}; "
            "pass --train-subset and --test-subset"
        )
    return train_subset or known[0], test_subset or known[1]


def _read_ambiguous(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, list[tuple[float, float]]] = {}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            out.setdefault(parts[0], []).append((float(parts[-2]), float(parts[-1])))
        except (ValueError, IndexError):
            raise DataError(f"{path}: line {n}: expected '<video> <class> <start> <end>', got {line!r}") from None
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in out.items()}


def _wtalc_video(
    vid: str, subset: str, duration: float, segments: Any, labels: Any, files: dict[str, Path]
) -> VideoAnnotation:
    """One video's W-TALC entries (segments (K, 2), K class names, duration) checked as a VideoAnnotation."""
    try:
        segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise DataError(f"{files['segments']}: video {vid!r}: segments are not a list of [start, end]") from None
    labs = (labels,) if isinstance(labels, (str, bytes)) else labels
    try:
        labs = tuple(_text(lab) for lab in labs)
    except TypeError:
        raise DataError(f"{files['labels']}: video {vid!r}: labels are not a list of class names") from None
    if len(labs) != len(segs):
        raise DataError(f"{files['labels']}: video {vid!r} has {len(labs)} labels for {len(segs)} segments")
    if not np.isfinite(duration) or duration <= 0:
        raise DataError(f"{files['duration']}: video {vid!r}: duration must be positive, got {duration}")
    return VideoAnnotation(video_id=vid, subset=subset, duration=float(duration), segments=segs, labels=labs)


def read_wtalc(
    src: str | os.PathLike,
    *,
    allow_pickle: bool = False,
    fps: float = 25.0,
    stride: float = 16.0,
    train_subset: str | None = None,
    test_subset: str | None = None,
) -> PublishedDataset:
    """Read a W-TALC joint-feature dataset (see the module docstring for the files).

    Args:
        src: folder holding ``*-JOINTFeatures.npy`` (and ``<Name>-Annotations/``), or the features file.
        allow_pickle: opt in to unpickling the features, ``segments.npy`` and ``labels.npy`` (required).
        fps, stride: snippet timing of the features (I3D: 25 fps, 16 frames).
        train_subset, test_subset: subset names; inferred for THUMOS14 / ActivityNet when omitted.
    Returns:
        A :class:`PublishedDataset` whose ``features(vid)`` splits each (T, 2D) row into rgb = first half and
        flow = second half, float32.
    """
    feats_path, ann_dir = locate_wtalc(src)
    files = {key: ann_dir / f"{key}.npy" for key in ("videoname", "subset", "duration", "segments", "labels")}
    for path in files.values():
        if not path.is_file():
            raise DataError(f"{path}: W-TALC annotation file not found")
    names = [
        check_video_id(_text(v), files["videoname"])
        for v in load_pickled_npy(files["videoname"], allow_pickle).reshape(-1)
    ]
    subsets = [_text(v) for v in load_pickled_npy(files["subset"], allow_pickle).reshape(-1)]
    try:
        durations = np.asarray(load_pickled_npy(files["duration"], allow_pickle), dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{files['duration']}: durations must be numbers (seconds)") from None
    durations = durations.reshape(durations.shape[0], -1)[:, 0] if durations.ndim else durations.reshape(1)
    segments = load_pickled_npy(files["segments"], allow_pickle)
    labels = load_pickled_npy(files["labels"], allow_pickle)
    joint = load_pickled_npy(feats_path, allow_pickle)
    for key, arr in (("subset", subsets), ("duration", durations), ("segments", segments), ("labels", labels)):
        if len(arr) != len(names):
            raise DataError(f"{files[key]}: {len(arr)} entries but videoname.npy lists {len(names)} videos")
    if len(joint) != len(names):
        raise DataError(f"{feats_path}: {len(joint)} videos but {files['videoname']} lists {len(names)}")
    if len(set(names)) != len(names):
        raise DataError(f"{files['videoname']}: duplicate video names")
    train, test = _resolve_subsets(str(files["subset"]), set(subsets), train_subset, test_subset)
    videos: dict[str, VideoAnnotation] = {}
    index = {}
    for i, vid in enumerate(names):
        videos[vid] = _wtalc_video(vid, subsets[i], durations[i], segments[i], labels[i], files)
        index[vid] = i
    ambiguous_path = ann_dir / "Ambiguous_test.txt"
    ambiguous = _read_ambiguous(ambiguous_path) if ambiguous_path.is_file() else {}

    def load(vid: str) -> dict[str, np.ndarray]:
        x = joint[index[vid]]
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind != "f" or x.shape[1] % 2:
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(f"{feats_path}: video {vid!r}: expected a (T, 2D) float array, got {shape}")
        problem = value_problem(feats_path, x)
        if problem is not None:
            raise DataError(f"{problem} in video {vid!r}")
        half = x.shape[1] // 2
        return {"rgb": np.asarray(x[:, :half], dtype=np.float32), "flow": np.asarray(x[:, half:], dtype=np.float32)}

    return PublishedDataset(
        source=str(feats_path),
        meta=DatasetMeta(
            fps=fps, stride=stride, train_subset=train, test_subset=test, name=feats_path.name.split("-")[0]
        ),
        annotations=Annotations(videos=videos, ambiguous=ambiguous),
        streams=STREAMS,
        load=load,
    )


# -- UM / BaS-Net -------------------------------------------------------------------------------------------------
def read_um(
    src: str | os.PathLike,
    *,
    fps: float = 25.0,
    stride: float = 16.0,
    train_subset: str | None = None,
    test_subset: str | None = None,
) -> PublishedDataset:
    """Read the UM / BaS-Net layout (see the module docstring).

    Videos under ``features/train`` get the train subset, under ``features/test`` the test subset; the names come
    from the arguments, else from gt.json's own subset of those videos, else THUMOS14's validation/test.
    Annotated videos without features (e.g. the three broken THUMOS14 test videos) are listed in ``dropped``.
    """
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: UM/BaS-Net dataset folder not found")
    gt_path = root / "gt.json"
    gt = Annotations.from_json(read_json(gt_path), source=str(gt_path))
    streams = tuple(s for s in STREAMS if any((root / "features" / split / s).is_dir() for split in ("train", "test")))
    if not streams:
        raise DataError(f"{root}: no features/{{train,test}}/{{rgb,flow}}/ folders")
    split_of: dict[str, str] = {}
    for split in ("train", "test"):
        for vid in _um_split_ids(root, split, streams):
            if vid in split_of:
                raise DataError(f"{root}: video {vid!r} is in both the train and the test split")
            if vid not in gt:
                raise DataError(f"{gt_path}: video {vid!r} has features but no entry (its duration is needed)")
            split_of[vid] = split
    names = {split: {gt[v].subset for v, s in split_of.items() if s == split} for split in ("train", "test")}
    own = [next(iter(n)) if len(n) == 1 else None for n in (names["train"], names["test"])]
    if own[0] and own[1] and own[0] != own[1]:
        train, test = train_subset or own[0], test_subset or own[1]
    else:
        train, test = train_subset or "validation", test_subset or "test"
    videos = {
        vid: VideoAnnotation(
            video_id=vid,
            subset=train if split == "train" else test,
            duration=gt[vid].duration,
            segments=gt[vid].segments,
            labels=gt[vid].labels,
        )
        for vid, split in split_of.items()
    }

    def load(vid: str) -> dict[str, np.ndarray]:
        folder = root / "features" / split_of[vid]
        return {s: np.asarray(load_feature_file(video_file(folder / s, vid)), dtype=np.float32) for s in streams}

    return PublishedDataset(
        source=str(root),
        meta=DatasetMeta(fps=fps, stride=stride, train_subset=train, test_subset=test, name=root.name),
        annotations=Annotations(
            videos=videos, ambiguous={k: v for k, v in gt.ambiguous.items() if k in videos}, extra=gt.extra
        ),
        streams=streams,
        load=load,
        dropped=sorted(set(gt) - set(videos)),
    )


def _um_split_ids(root: Path, split: str, streams: tuple[str, ...]) -> list[str]:
    """Videos of a split: ``split_<split>.txt`` when present, else the feature files; each needs every stream."""
    folder = root / "features" / split
    list_path = root / f"split_{split}.txt"
    if list_path.is_file():
        ids = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]
    else:
        ids = sorted({p.name[: -len(".npy")] for s in streams for p in (folder / s).glob("*.npy")})
    for vid in ids:
        check_video_id(vid, list_path if list_path.is_file() else folder)
        for s in streams:
            path = video_file(folder / s, vid)
            if not path.is_file():
                raise DataError(f"{path}: feature file not found (video listed in {split} split)")
    return ids


def read_published(src: str | os.PathLike, layout: str, **options: Any) -> PublishedDataset:
    """Read ``src`` in ``layout`` (``"wtalc"``, ``"um"`` or ``"actionformer"``); ``options`` go to
    :func:`read_wtalc` / :func:`read_um` / :func:`read_actionformer`."""
    if layout == "actionformer":
        if options.pop("allow_pickle", False):
            raise ConfigError(
                "--allow-pickle applies to the wtalc layout only (ActionFormer features are plain arrays)"
            )
        if options.get("stride") is None or options.get("window") is None:
            raise ConfigError(
                "the actionformer layout needs --stride and --window (ActionFormer's feat_stride and num_frames: "
                "THUMOS14 I3D 4 and 16, ActivityNet TSP 16 and 16)"
            )
        return read_actionformer(src, **options)
    for key in ("window", "annotations", "features", "rgb_dim"):
        if options.pop(key, None) is not None:
            raise ConfigError(f"--{key.replace('_', '-')} applies to the actionformer layout only")
    options = {k: v for k, v in options.items() if v is not None or k not in ("fps", "stride")}
    if layout == "wtalc":
        return read_wtalc(src, **options)
    if layout == "um":
        if options.pop("allow_pickle", False):
            raise ConfigError("--allow-pickle applies to the wtalc layout only (UM features are plain arrays)")
        return read_um(src, **options)
    raise ConfigError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
