"""The native dataset layout and its loader.

::

    DIR/dataset.yaml        fps, stride, train_subset, test_subset (see :class:`DatasetMeta`)
    DIR/annotations.json    ActivityNet-style ground truth (may list videos without segments)
    DIR/rgb/<video_id>.npy  (T, D) float features, one row per snippet   (stream optional)
    DIR/flow/<video_id>.npy (T, D) float features                        (stream optional)

Feature files are memory-mapped, so a THUMOS14-size set (~1 GB) is paged in on demand and never held
twice in RAM.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation, load_annotations
from cotal.data.timing import SnippetTiming
from cotal.errors import DataError
from cotal.utils.io import read_yaml, write_yaml

STREAMS = ("rgb", "flow")


@dataclass(frozen=True)
class DatasetMeta:
    """Contents of ``dataset.yaml``.

    Attributes:
        fps: frame rate the snippets were cut at.
        stride: frames per snippet (seconds per snippet = stride / fps).
        train_subset: subset used to train (THUMOS14: "validation"; ActivityNet: "training").
        test_subset: subset evaluated (THUMOS14: "test"; ActivityNet: "validation").
        name: free-form dataset name.
    """

    fps: float = 25.0
    stride: float = 16.0
    train_subset: str = "validation"
    test_subset: str = "test"
    name: str = ""

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetMeta:
        raw = read_yaml(path) or {}
        if not isinstance(raw, dict):
            raise DataError(f"{path}: expected a mapping of settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DataError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        meta = cls(**raw)
        for key in ("fps", "stride"):
            v = getattr(meta, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise DataError(f"{path}: '{key}' must be a positive number, got {v!r}")
        for key in ("train_subset", "test_subset"):
            if not isinstance(getattr(meta, key), str) or not getattr(meta, key):
                raise DataError(f"{path}: '{key}' must be a non-empty string")
        return meta

    def save(self, path: str | os.PathLike) -> None:
        write_yaml(path, asdict(self))

    @property
    def timing(self) -> SnippetTiming:
        return SnippetTiming(fps=float(self.fps), stride=float(self.stride))


class FeatureDataset:
    """A dataset in the native layout.

    Args:
        root: dataset folder.
        mmap: memory-map feature files (default) instead of reading them into RAM.

    Example:
        >>> ds = FeatureDataset("data/thumos14")            # doctest: +SKIP
        >>> x = ds.features("video_test_0000004", "rgb")    # (T, 1024) float32, memory-mapped
    """

    def __init__(self, root: str | os.PathLike, mmap: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found")
        meta_path = self.root / "dataset.yaml"
        self.meta = DatasetMeta.load(meta_path) if meta_path.exists() else DatasetMeta()
        self.annotations: Annotations = load_annotations(self.root / "annotations.json")
        self.mmap = mmap
        self.streams: tuple[str, ...] = tuple(s for s in STREAMS if (self.root / s).is_dir())
        if not self.streams:
            raise DataError(f"{self.root}: no feature folder; expected {' and/or '.join(STREAMS)}/<video_id>.npy")

    # -- metadata ---------------------------------------------------------------------------------
    @property
    def timing(self) -> SnippetTiming:
        return self.meta.timing

    @property
    def classes(self) -> list[str]:
        """Sorted class names of the ground truth (empty when the videos are unlabelled)."""
        return self.annotations.classes

    @property
    def train_ids(self) -> list[str]:
        return self.annotations.ids(self.meta.train_subset)

    @property
    def test_ids(self) -> list[str]:
        return self.annotations.ids(self.meta.test_subset)

    def video_ids(self, subset: str | None = None) -> list[str]:
        """Sorted ids of the videos in ``subset`` (all when ``None``)."""
        return self.annotations.ids(subset)

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, video_id: str) -> VideoAnnotation:
        try:
            return self.annotations[video_id]
        except KeyError:
            raise DataError(f"{self.root}: video {video_id!r} is not in annotations.json") from None

    # -- features ---------------------------------------------------------------------------------
    def feature_path(self, video_id: str, stream: str) -> Path:
        if stream not in STREAMS:
            raise DataError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
        return self.root / stream / f"{video_id}.npy"

    def features(self, video_id: str, stream: str) -> np.ndarray:
        """Snippet features of one stream.

        Returns:
            (T, D) float array (memory-mapped when ``mmap``); T >= 1, finite values.
        Raises:
            DataError: missing, corrupt, wrongly shaped or non-finite file.
        """
        path = self.feature_path(video_id, stream)
        return load_feature_file(path, mmap=self.mmap)

    def joint_features(self, video_id: str, streams: tuple[str, ...] | None = None) -> np.ndarray:
        """Streams concatenated along features: (T, D_rgb + D_flow), RGB first (W-TALC convention)."""
        streams = streams or self.streams
        parts = [self.features(video_id, s) for s in streams]
        lengths = {p.shape[0] for p in parts}
        if len(lengths) > 1:
            raise DataError(
                f"{self.root}: video {video_id!r}: streams have different lengths "
                + ", ".join(f"{s}={p.shape[0]}" for s, p in zip(streams, parts, strict=True))
            )
        return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts], axis=1)

    def num_snippets(self, video_id: str) -> int:
        """T of a video, read from the file header only."""
        return int(self.features(video_id, self.streams[0]).shape[0])

    def feature_dim(self, stream: str) -> int:
        """D of a stream, from the first video that has it."""
        for vid in self.annotations:
            if self.feature_path(vid, stream).exists():
                return int(self.features(vid, stream).shape[1])
        raise DataError(f"{self.root}: no {stream} feature files")


def load_feature_file(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load and validate one ``(T, D)`` feature file without unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: feature file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path}: cannot read as a plain .npy array ({str(e).splitlines()[0]})") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: corrupt .npy file ({type(e).__name__}: {e})") from None
    if arr.ndim != 2:
        raise DataError(f"{path}: expected a 2-D (T, D) array, got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise DataError(f"{path}: expected a float array, got dtype {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{path}: empty feature array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{path}: contains NaN/Inf (first at snippet {bad[0]}, dim {bad[1]})")
    return arr
