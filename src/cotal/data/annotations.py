"""ActivityNet-style ground truth: ``{"database": {video_id: {"subset", "duration", "annotations"}}}``.

Other top-level keys (``taxonomy``, ``version``, THUMOS14's ``ambiguous``) are allowed; a video with no
annotations is valid (new videos, ActivityNet's hidden test set).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cotal.data.ids import check_video_id
from cotal.errors import DataError
from cotal.utils.io import read_json


@dataclass(frozen=True)
class VideoAnnotation:
    """Ground truth of one video.

    Attributes:
        video_id: the key in the database.
        subset: e.g. "validation", "test", "training".
        duration: seconds.
        segments: (K, 2) float64 start/end seconds.
        labels: K class names, aligned with ``segments``.
    """

    video_id: str
    subset: str
    duration: float
    segments: np.ndarray
    labels: tuple[str, ...]

    @property
    def video_labels(self) -> tuple[str, ...]:
        """The distinct classes present in the video, sorted (video-level labels)."""
        return tuple(sorted(set(self.labels)))


@dataclass
class Annotations(Mapping[str, VideoAnnotation]):
    """All videos of a dataset, keyed by video id, plus optional ambiguous intervals.

    Attributes:
        videos: video id -> :class:`VideoAnnotation`.
        ambiguous: video id -> (K, 2) intervals marked ambiguous (THUMOS14); may be empty.
        extra: other top-level keys of the source JSON, kept for round-trips.
    """

    videos: dict[str, VideoAnnotation]
    ambiguous: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, video_id: str) -> VideoAnnotation:
        return self.videos[video_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.videos)

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def classes(self) -> list[str]:
        """Sorted class names appearing in any segment (the index order used everywhere)."""
        return sorted({lab for v in self.videos.values() for lab in v.labels})

    @property
    def subsets(self) -> list[str]:
        return sorted({v.subset for v in self.videos.values()})

    def ids(self, subset: str | None = None) -> list[str]:
        """Sorted video ids, optionally of one subset."""
        return sorted(k for k, v in self.videos.items() if subset is None or v.subset == subset)

    def to_json(self) -> dict[str, Any]:
        """The ActivityNet-style dict (round-trips through :meth:`from_json`)."""
        db = {
            vid: {
                "subset": v.subset,
                "duration": v.duration,
                "annotations": [
                    {"segment": [float(s), float(e)], "label": lab}
                    for (s, e), lab in zip(v.segments.tolist(), v.labels, strict=True)
                ],
            }
            for vid, v in self.videos.items()
        }
        out: dict[str, Any] = dict(self.extra)
        out["database"] = db
        if self.ambiguous:
            out["ambiguous"] = {k: v.tolist() for k, v in self.ambiguous.items()}
        return out

    @classmethod
    def from_json(cls, obj: Any, source: str = "<annotations>") -> Annotations:
        """Parse and validate the structure (types, finite numbers); raises :class:`DataError`."""
        if not isinstance(obj, dict) or not isinstance(obj.get("database"), dict):
            raise DataError(f"{source}: expected a JSON object with a 'database' object of videos")
        videos: dict[str, VideoAnnotation] = {}
        for vid, entry in obj["database"].items():
            check_video_id(vid, source)  # an id names files: it must never be a path
            where = f"{source}: video {vid!r}"
            if not isinstance(entry, dict):
                raise DataError(f"{where}: entry must be an object")
            subset = entry.get("subset")
            if not isinstance(subset, str) or not subset:
                raise DataError(f"{where}: missing or non-string 'subset'")
            duration = entry.get("duration")
            if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not np.isfinite(duration):
                raise DataError(f"{where}: 'duration' must be a finite number, got {duration!r}")
            if duration <= 0:
                raise DataError(f"{where}: 'duration' must be positive, got {duration}")
            anns = entry.get("annotations", [])
            if not isinstance(anns, list):
                raise DataError(f"{where}: 'annotations' must be a list")
            segs, labels = [], []
            for j, a in enumerate(anns):
                seg = a.get("segment") if isinstance(a, dict) else None
                lab = a.get("label") if isinstance(a, dict) else None
                if (
                    not isinstance(seg, (list, tuple))
                    or len(seg) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in seg)
                    or not np.all(np.isfinite(seg))
                ):
                    raise DataError(f"{where}: annotation {j} needs 'segment' as two finite numbers, got {seg!r}")
                if not isinstance(lab, str) or not lab:
                    raise DataError(f"{where}: annotation {j} needs a non-empty string 'label', got {lab!r}")
                segs.append((float(seg[0]), float(seg[1])))
                labels.append(lab)
            videos[vid] = VideoAnnotation(
                video_id=vid,
                subset=subset,
                duration=float(duration),
                segments=np.asarray(segs, dtype=np.float64).reshape(-1, 2),
                labels=tuple(labels),
            )
        ambiguous: dict[str, np.ndarray] = {}
        amb = obj.get("ambiguous") or {}
        if not isinstance(amb, dict):
            raise DataError(f"{source}: 'ambiguous' must map video ids to lists of [start, end]")
        for vid, ivs in amb.items():
            try:
                ambiguous[vid] = np.asarray(ivs, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError):
                raise DataError(f"{source}: ambiguous intervals of {vid!r} are not a list of [start, end]") from None
        extra = {k: v for k, v in obj.items() if k not in ("database", "ambiguous")}
        return cls(videos=videos, ambiguous=ambiguous, extra=extra)


def load_annotations(path: str | os.PathLike) -> Annotations:
    """Read an ActivityNet-style annotation JSON file; malformed content raises :class:`DataError`."""
    return Annotations.from_json(read_json(path), source=str(path))
