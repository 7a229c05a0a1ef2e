"""The native dataset layout and its loader.

::

    DIR/dataset.yaml        fps, stride, train_subset, test_subset (see :class:`DatasetMeta`)
    DIR/annotations.json    ActivityNet-style ground truth (may list videos without segments)
    DIR/rgb/<video_id>.npy  (T, D) float features, one row per snippet   (stream optional)
    DIR/flow/<video_id>.npy (T, D) float features                        (stream optional)

Memory: each feature file is opened once, validated once (header checks and a NaN/Inf scan) and kept in a
bounded least-recently-used cache of read-only arrays, so repeated calls return the same array instead of a
second copy. With ``mmap=True`` (default) the cached arrays are memory maps: a THUMOS14-size set (~1 GB) is
paged in on demand by the OS and never held twice in RAM; ``num_snippets`` and ``feature_dim`` read only the
file header. Every message about a broken file comes from :mod:`cotal.data.problems`.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation, check_subset, load_annotations
from cotal.data.config import STREAMS
from cotal.data.ids import video_file
from cotal.data.problems import (
    annotation_problems,
    feature_header_problem,
    length_problem,
    open_feature_file,
    read_npy_header,
    stream_length_problem,
    subset_problems,
    value_problem,
)
from cotal.data.timing import SnippetTiming
from cotal.data.unlabelled import annotations_from_features
from cotal.errors import ConfigError, DataError
from cotal.utils.configs import build_config
from cotal.utils.io import read_yaml, write_yaml
from cotal.utils.text import short_repr, text_problem


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
    window: float | None = None

    def __post_init__(self) -> None:
        for key in ("fps", "stride", "window"):
            v = getattr(self, key)
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf):
                raise DataError(f"'{key}' must be a positive number, got {short_repr(v)}")
        for key in ("train_subset", "test_subset"):
            check_subset(getattr(self, key), f"'{key}'")
        why = text_problem(self.name) if isinstance(self.name, str) else "is not a string"
        if why is not None:
            raise DataError(f"'name' {short_repr(self.name)} {why}")

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetMeta:
        raw = read_yaml(path) or {}
        if not isinstance(raw, dict):
            raise DataError(f"{path}: expected a mapping of settings")
        try:
            return build_config(cls, raw, "")  # unknown keys, wrong types, the checks above
        except (ConfigError, DataError) as e:
            raise DataError(f"{path}: {e}") from None

    def save(self, path: str | os.PathLike) -> None:
        write_yaml(path, {k: v for k, v in asdict(self).items() if not (k == "window" and v is None)})

    @property
    def timing(self) -> SnippetTiming:
        window = None if self.window is None else float(self.window)
        return SnippetTiming(fps=float(self.fps), stride=float(self.stride), window=window)


class FeatureDataset:
    """A dataset in the native layout.

    Args:
        root: dataset folder.
        mmap: memory-map feature files (default) instead of reading them into RAM.
        strict: also raise on annotation problems that ``cotal data check`` reports but that do not stop
            loading (segments outside ``[0, duration]`` or with ``end <= start``, train/test subsets absent
            from annotations.json) and, on access, on T inconsistent with duration x fps / stride. Off by
            default because the real THUMOS14 ground truth has segments past the video end; without it only a T
            more than twice the duration's snippet count (the wrong video or fps/stride) is refused.
        cache_size: how many opened feature files to keep (least recently used are dropped).

    Example:
        >>> ds = FeatureDataset("data/thumos14")            # doctest: +SKIP
        >>> x = ds.features("video_test_0000004", "rgb")    # (T, 1024) float32, memory-mapped, read-only
    """

    def __init__(self, root: str | os.PathLike, mmap: bool = True, strict: bool = False, cache_size: int = 256) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is a file, not a dataset folder" if self.root.exists() else "dataset folder not found"
            raise DataError(f"{self.root}: {what}")
        meta_path = self.root / "dataset.yaml"
        self.meta = DatasetMeta.load(meta_path) if meta_path.exists() else DatasetMeta()
        ann_path = self.root / "annotations.json"
        # New, unlabelled videos need no hand-written annotations: ids and durations come from the features.
        self.annotations: Annotations = (
            load_annotations(ann_path)
            if ann_path.exists()
            else annotations_from_features(self.root, self.meta.timing, self.meta.test_subset, STREAMS)
        )
        self.mmap = mmap
        self.strict = strict
        self.streams: tuple[str, ...] = tuple(s for s in STREAMS if (self.root / s).is_dir())
        if not self.streams:
            raise DataError(f"{self.root}: no feature folder; expected {' and/or '.join(STREAMS)}/<video_id>.npy")
        if strict:
            problems = subset_problems(meta_path, self.meta.train_subset, self.meta.test_subset, self.annotations)
            problems += annotation_problems(self.root / "annotations.json", self.annotations)
            if problems:
                raise problems[0].error()
        self._cache_size = max(1, cache_size)
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._shapes: dict[tuple[str, str], tuple[int, int]] = {}

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

    def annotation(self, video_id: str) -> VideoAnnotation:
        """Ground truth of one video: subset, duration, segments and labels (empty for unlabelled videos)."""
        try:
            return self.annotations[video_id]
        except KeyError:
            raise DataError(f"{self.root}: video {video_id!r} is not in annotations.json") from None

    # -- features ---------------------------------------------------------------------------------
    def feature_path(self, video_id: str, stream: str) -> Path:
        if stream not in STREAMS:
            raise DataError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
        return video_file(self.root / stream, video_id)

    def features(self, video_id: str, stream: str) -> np.ndarray:
        """Snippet features of one stream.

        The file is validated on first access and cached (see the module docstring); the same read-only array
        is returned while it stays in the cache.

        Returns:
            (T, D) read-only float array (memory-mapped when ``mmap``); T >= 1, finite values.
        Raises:
            DataError: missing, corrupt, wrongly shaped or non-finite file (and, when ``strict``, T inconsistent
                with the video duration).
        """
        key = (video_id, stream)
        arr = self._cache.get(key)
        if arr is not None:
            self._cache.move_to_end(key)
            return arr
        path = self.feature_path(video_id, stream)
        arr = load_feature_file(path, mmap=self.mmap)
        if video_id in self.annotations:
            duration = self.annotations[video_id].duration
            problem = length_problem(path, arr.shape[0], duration, self.timing, lenient=not self.strict)
            if problem is not None:
                raise problem.error()
        self._cache[key] = arr
        self._shapes[key] = arr.shape
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return arr

    def joint_features(self, video_id: str, streams: tuple[str, ...] | None = None) -> np.ndarray:
        """Streams concatenated along features: (T, D_rgb + D_flow) float32, RGB first (W-TALC convention).

        This is a new array (the only copy cotal makes of feature data); use :meth:`features` to avoid it.
        """
        streams = streams or self.streams
        parts = {s: self.features(video_id, s) for s in streams}
        problem = stream_length_problem(self.root, video_id, {s: p.shape[0] for s, p in parts.items()})
        if problem is not None:
            raise problem.error()
        return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts.values()], axis=1)

    def feature_shape(self, video_id: str, stream: str) -> tuple[int, int]:
        """(T, D) of one file, from its header only (no data is read or mapped)."""
        key = (video_id, stream)
        if key not in self._shapes:
            self._shapes[key] = feature_file_shape(self.feature_path(video_id, stream))
        return self._shapes[key]

    def num_snippets(self, video_id: str) -> int:
        """T of a video, read from the file header only."""
        return self.feature_shape(video_id, self.streams[0])[0]

    def feature_dim(self, stream: str) -> int:
        """D of a stream, from the header of the first video that has it."""
        for vid in self.video_ids():
            if self.feature_path(vid, stream).exists():
                return self.feature_shape(vid, stream)[1]
        raise DataError(f"{self.root}: no {stream} feature files")


def feature_file_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(T, D) of a feature file from its header; raises the same errors as :func:`load_feature_file`."""
    header, problem = read_npy_header(path)
    if problem is None:
        problem = feature_header_problem(path, header)
    if problem is not None:
        raise problem.error()
    return header.shape


def load_feature_file(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load and validate one ``(T, D)`` feature file without unpickling anything.

    Returns:
        (T, D) read-only float array, memory-mapped when ``mmap``.
    Raises:
        DataError: the first problem of :mod:`cotal.data.problems` that applies.
    """
    arr, problem = open_feature_file(path, mmap=mmap)
    if problem is None:
        problem = value_problem(path, arr)
    if problem is not None:
        raise problem.error()
    return arr
