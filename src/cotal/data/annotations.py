"""ActivityNet-style ground truth: ``{"database": {video_id: {"subset", "duration", "annotations"}}}``.

Other top-level keys (``taxonomy``, ``version``, THUMOS14's ``ambiguous``) are allowed; a video with no
annotations is valid (new videos, ActivityNet's hidden test set).

Labels and subset names are text that cotal prints: one holding a control character (a line break, an
escape sequence) is refused, and every label is read in Unicode NFC form without spaces around it, so that
labels which print alike are one class (:class:`VideoAnnotation` does it; reading a file says so with a
:class:`~cotal.errors.DataWarning`). Durations and segment times beyond :data:`MAX_SECONDS` and segments that
end before they start are refused.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cotal.data.ids import check_video_id
from cotal.errors import DataError, DataWarning
from cotal.utils.io import read_json
from cotal.utils.text import short_repr, text_problem

# Longest duration and largest segment time accepted, in seconds (about 116 days): beyond it arithmetic on times
# overflows, and no video is that long.
MAX_SECONDS = 1e7


def check_subset(subset: object, where: str) -> str:
    """``subset`` if it is a non-empty name without control characters, else :class:`DataError` naming ``where``."""
    if not isinstance(subset, str) or not subset or text_problem(subset) is not None:
        raise DataError(f"{where} must be a non-empty name without control characters, got {short_repr(subset)}")
    return subset


def clean_label(label: object, where: str) -> str:
    """``label`` in Unicode NFC form without spaces around it; a non-string, an empty one or one holding a control
    character raises :class:`DataError` naming ``where``."""
    if not isinstance(label, str) or not label.strip():
        raise DataError(f"{where} needs a non-empty string 'label', got {short_repr(label)}")
    why = text_problem(label)
    if why is not None:
        raise DataError(f"{where}: label {short_repr(label)} {why}")
    return unicodedata.normalize("NFC", label).strip()


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

    def __post_init__(self) -> None:
        where = f"video {self.video_id!r}"
        if not isinstance(self.subset, str) or not self.subset or text_problem(self.subset) is not None:
            raise DataError(
                f"{where}: subset {short_repr(self.subset)} must be a non-empty name without control characters"
            )
        labels = tuple(clean_label(lab, f"{where}: annotation {j}") for j, lab in enumerate(self.labels))
        object.__setattr__(self, "labels", labels)

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
        label_variants: label -> the spellings read as it, for labels written in more than one way (read from a
            file; see :func:`clean_label`).
    """

    videos: dict[str, VideoAnnotation]
    ambiguous: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    label_variants: dict[str, list[str]] = field(default_factory=dict)

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
        """Parse and validate the structure (types, finite numbers); raises :class:`DataError` (the first problem
        of :meth:`parse`) and warns when labels were normalised."""
        annotations, problems = cls.parse(obj, source)
        if problems:
            raise DataError(problems[0])
        if annotations.label_variants:
            label, spellings = next(iter(annotations.label_variants.items()))
            warnings.warn(
                f"{source}: {len(annotations.label_variants)} label(s) written in several ways (Unicode form, spaces "
                f"around them) are read as one class each, e.g. {', '.join(map(short_repr, spellings))} as "
                f"{short_repr(label)}",
                DataWarning,
                stacklevel=2,
            )
        return annotations

    @classmethod
    def parse(cls, obj: Any, source: str = "<annotations>") -> tuple[Annotations, list[str]]:
        """Parse what is valid and list every structural problem (one per broken video), each a one-line message.

        Videos with a problem are left out of the returned annotations.
        """
        if not isinstance(obj, dict) or not isinstance(obj.get("database"), dict):
            return cls(videos={}), [f"{source}: expected a JSON object with a 'database' object of videos"]
        videos: dict[str, VideoAnnotation] = {}
        problems: list[str] = []
        variants: dict[str, set[str]] = {}
        for vid, entry in obj["database"].items():
            try:
                check_video_id(vid, source)  # an id names files: it must never be a path
                videos[vid] = _parse_video(vid, entry, f"{source}: video {vid!r}", variants)
            except DataError as e:
                problems.append(str(e))
        ambiguous: dict[str, np.ndarray] = {}
        amb = obj.get("ambiguous") or {}
        if not isinstance(amb, dict):
            problems.append(f"{source}: 'ambiguous' must map video ids to lists of [start, end]")
            amb = {}
        for vid, ivs in amb.items():
            try:
                ambiguous[vid] = np.asarray(ivs, dtype=np.float64).reshape(-1, 2)
            except (TypeError, ValueError, OverflowError):
                problems.append(f"{source}: ambiguous intervals of {short_repr(vid)} are not a list of [start, end]")
        extra = {k: v for k, v in obj.items() if k not in ("database", "ambiguous")}
        label_variants = {label: sorted(raw) for label, raw in sorted(variants.items()) if raw != {label}}
        return cls(videos=videos, ambiguous=ambiguous, extra=extra, label_variants=label_variants), problems


def _seconds(value: object) -> float | None:
    """``value`` as seconds if it is a number within +-MAX_SECONDS, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if abs(value) <= MAX_SECONDS else None  # NaN fails the comparison


def _parse_video(vid: str, entry: object, where: str, variants: dict[str, set[str]]) -> VideoAnnotation:
    """One ``database`` entry; the first problem raises :class:`DataError`. Records each label's raw spellings."""
    if not isinstance(entry, dict):
        raise DataError(f"{where}: entry must be an object")
    subset = check_subset(entry.get("subset"), f"{where}: 'subset'")
    duration = _seconds(entry.get("duration"))
    if duration is None or duration <= 0:
        raise DataError(
            f"{where}: 'duration' must be a positive number of seconds up to {MAX_SECONDS:g}, "
            f"got {short_repr(entry.get('duration'))}"
        )
    anns = entry.get("annotations", [])
    if not isinstance(anns, list):
        raise DataError(f"{where}: 'annotations' must be a list")
    segs, labels = [], []
    for j, a in enumerate(anns):
        seg = a.get("segment") if isinstance(a, dict) else None
        times = [_seconds(x) for x in seg] if isinstance(seg, (list, tuple)) and len(seg) == 2 else [None]
        if None in times:
            raise DataError(
                f"{where}: annotation {j} needs 'segment' as two numbers of seconds within +-{MAX_SECONDS:g}, "
                f"got {short_repr(seg)}"
            )
        if times[1] < times[0]:
            raise DataError(f"{where}: annotation {j}: segment {short_repr(seg)} ends before it starts")
        raw = a.get("label")
        label = clean_label(raw, f"{where}: annotation {j}")
        variants.setdefault(label, set()).add(raw)
        segs.append(times)
        labels.append(label)
    return VideoAnnotation(
        video_id=vid,
        subset=subset,
        duration=duration,
        segments=np.asarray(segs, dtype=np.float64).reshape(-1, 2),
        labels=tuple(labels),
    )


def load_annotations(path: str | os.PathLike) -> Annotations:
    """Read an ActivityNet-style annotation JSON file; malformed content raises :class:`DataError`."""
    return Annotations.from_json(read_json(path), source=str(path))
