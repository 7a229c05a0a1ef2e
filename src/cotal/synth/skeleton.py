"""Annotation skeletons for synthetic data: a real ground truth (durations, segments, labels) or a parametric one.

A skeleton fixes what happens when in every video; :mod:`cotal.synth.features` then draws features for it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation, load_annotations
from cotal.errors import ConfigError
from cotal.synth.config import SynthConfig

BUILTIN_SKELETONS = ("thumos14", "activitynet12")
# (train subset, test subset) of each builtin skeleton; a custom file gets them from its own subsets.
BUILTIN_SUBSETS = {"thumos14": ("validation", "test"), "activitynet12": ("training", "validation")}
PARAMETRIC_SUBSETS = ("validation", "test")


@dataclass(frozen=True)
class Skeleton:
    """The ground truth a synthetic dataset is generated for.

    Attributes:
        annotations: the videos to generate (already clipped, filtered and subsampled).
        train_subset, test_subset: subset names written to dataset.yaml.
        name: "thumos14", "activitynet12", a file stem, or "parametric".
        classes: the full class list of the source (prototypes are keyed by it, so subsampling never changes
            the features of a kept video).
        clipped_segments: segments whose end was moved back to the video's duration.
        dropped_segments: segments that were empty after clipping (start >= duration or end <= start).
        dropped_videos: videos left out (unlabelled subsets, or over ``max_videos``).
        families: family index of each class in ``classes`` (confusable classes share a family direction).
    """

    annotations: Annotations
    train_subset: str
    test_subset: str
    name: str
    classes: tuple[str, ...]
    clipped_segments: int = 0
    dropped_segments: int = 0
    dropped_videos: int = 0
    families: tuple[int, ...] = ()


def video_key(video_id: str) -> int:
    """A stable 64-bit integer of a video id (the per-video seed component; Python's hash() is salted)."""
    return int.from_bytes(hashlib.sha256(video_id.encode("utf-8")).digest()[:8], "little")


def builtin_skeleton_path(name: str) -> Path:
    """Path of a packaged annotation skeleton (``thumos14`` or ``activitynet12``)."""
    if name not in BUILTIN_SKELETONS:
        raise ConfigError(f"unknown skeleton {name!r}; expected one of {', '.join(BUILTIN_SKELETONS)} or a file path")
    return Path(str(resources.files("cotal.data").joinpath("skeletons", f"{name}.json")))


def load_skeleton(source: str | os.PathLike | None, config: SynthConfig, seed: int) -> Skeleton:
    """Build the skeleton: a builtin name, an ActivityNet-style JSON path, or ``None`` for a parametric one.

    Real segments are clipped to ``[0, duration]``; segments empty after clipping are dropped (counted in the
    result). Subsets without any labelled video (ActivityNet "testing") are dropped unless
    ``config.keep_unlabelled``. ``config.max_videos`` then subsamples (see :func:`subsample`).
    """
    if source is None:
        return subsample(parametric_skeleton(config, seed), config.max_videos, seed)
    if str(source) in BUILTIN_SKELETONS:
        name = str(source)
        path = builtin_skeleton_path(name)
        train_subset, test_subset = BUILTIN_SUBSETS[name]
    else:
        path = Path(source)
        name = path.stem
        train_subset = test_subset = ""
    ann = load_annotations(path)
    labelled = sorted({v.subset for v in ann.values() if len(v.labels)})
    if not labelled:
        raise ConfigError(f"{path}: no video has a labelled segment; a skeleton needs ground truth")
    if not train_subset:
        train_subset, test_subset = _guess_subsets(labelled)
    kept_subsets = set(ann.subsets) if config.keep_unlabelled else set(labelled)
    videos: dict[str, VideoAnnotation] = {}
    clipped = dropped = 0
    for vid in ann.ids():
        v = ann[vid]
        if v.subset not in kept_subsets:
            continue
        segs = v.segments.copy()
        over = segs[:, 1] > v.duration
        clipped += int(np.count_nonzero(over & (segs[:, 0] < v.duration)))
        segs = np.clip(segs, 0.0, v.duration)
        keep = segs[:, 1] > segs[:, 0]
        dropped += int(np.count_nonzero(~keep))
        videos[vid] = VideoAnnotation(
            video_id=vid,
            subset=v.subset,
            duration=v.duration,
            segments=segs[keep],
            labels=tuple(lab for lab, k in zip(v.labels, keep, strict=True) if k),
        )
    skeleton = Skeleton(
        annotations=Annotations(videos=videos, extra={k: v for k, v in ann.extra.items() if k == "taxonomy"}),
        train_subset=train_subset,
        test_subset=test_subset,
        name=name,
        classes=tuple(ann.classes),
        clipped_segments=clipped,
        dropped_segments=dropped,
        dropped_videos=len(ann) - len(videos),
        families=cooccurrence_families(ann, tuple(ann.classes), config.family_size),
    )
    return subsample(skeleton, config.max_videos, seed)


def _guess_subsets(labelled: list[str]) -> tuple[str, str]:
    """Train/test subsets of a custom skeleton: the common names when present, else the first two sorted."""
    for train, test in (("validation", "test"), ("training", "validation"), ("train", "test")):
        if train in labelled and test in labelled:
            return train, test
    if len(labelled) == 1:
        return labelled[0], labelled[0]
    return labelled[0], labelled[1]


def subsample(skeleton: Skeleton, max_videos: int | None, seed: int) -> Skeleton:
    """Keep at most ``max_videos`` videos, stratified by subset, in the order of a per-video hash.

    Each subset keeps ``round(max_videos * its share)`` videos (at least one). The order depends only on
    ``(seed, video id)``, so the videos kept for a smaller ``max_videos`` are among those kept for a larger one.
    """
    ann = skeleton.annotations
    if max_videos is None or max_videos >= len(ann):
        return skeleton
    total = len(ann)
    kept: list[str] = []
    for subset in ann.subsets:
        ids = ann.ids(subset)
        quota = max(1, round(max_videos * len(ids) / total))
        kept += sorted(ids, key=lambda vid: (video_key(f"{seed}/{vid}"), vid))[:quota]
    videos = {vid: ann[vid] for vid in sorted(kept)}
    return Skeleton(
        annotations=Annotations(videos=videos, ambiguous={}, extra=dict(ann.extra)),
        train_subset=skeleton.train_subset,
        test_subset=skeleton.test_subset,
        name=skeleton.name,
        classes=skeleton.classes,
        clipped_segments=skeleton.clipped_segments,
        dropped_segments=skeleton.dropped_segments,
        dropped_videos=skeleton.dropped_videos + total - len(videos),
        families=skeleton.families,
    )


def parametric_skeleton(config: SynthConfig, seed: int) -> Skeleton:
    """A THUMOS-like random ground truth from the ``SynthConfig`` skeleton fields.

    Classes are ``class_00 ..``; video ids ``synth_00000 ..``; subsets "validation" (train) and "test".
    Each video has one main class (balanced round-robin over a seeded permutation) and, with probability
    ``multi_label_fraction``, a second class from the same family. Instances do not overlap.
    """
    c = config
    width = max(2, len(str(c.num_classes - 1)))
    classes = tuple(f"class_{i:0{width}d}" for i in range(c.num_classes))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    main = rng.permutation(np.arange(c.num_videos) % c.num_classes)
    n_test = int(round(c.num_videos * c.test_fraction))
    test = np.zeros(c.num_videos, dtype=bool)
    test[rng.permutation(c.num_videos)[:n_test]] = True
    videos: dict[str, VideoAnnotation] = {}
    for i in range(c.num_videos):
        vid = f"synth_{i:05d}"
        vrng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, i]))
        duration = round(float(np.exp(vrng.uniform(np.log(c.min_duration), np.log(c.max_duration)))), 3)
        video_classes = [int(main[i])]
        if vrng.random() < c.multi_label_fraction and c.family_size > 1:
            family = family_members(int(main[i]), c.num_classes, c.family_size)
            others = [k for k in family if k != main[i]]
            if others:
                video_classes.append(int(vrng.choice(others)))
        n_seg = int(vrng.integers(c.min_segments, c.max_segments + 1))
        segs = _place_segments(vrng, n_seg, duration, c.min_segment_length, c.max_segment_length)
        videos[vid] = VideoAnnotation(
            video_id=vid,
            subset="test" if test[i] else "validation",
            duration=duration,
            segments=segs,
            labels=tuple(classes[video_classes[int(vrng.integers(len(video_classes)))]] for _ in segs),
        )
    return Skeleton(
        annotations=Annotations(videos=videos, extra={"taxonomy": [{"nodeName": k} for k in classes]}),
        train_subset=PARAMETRIC_SUBSETS[0],
        test_subset=PARAMETRIC_SUBSETS[1],
        name="parametric",
        classes=classes,
        families=tuple(i // c.family_size for i in range(c.num_classes)),
    )


def cooccurrence_families(ann: Annotations, classes: tuple[str, ...], family_size: int) -> tuple[int, ...]:
    """Family index per class, from label co-occurrence.

    Classes that share at least two videos form one family (THUMOS14: CricketBowling + CricketShot,
    CliffDiving + Diving, Shotput + ThrowDiscus); the remaining classes are grouped ``family_size`` at a time
    in sorted order. Computed on the whole skeleton, before subsampling, so subsampling never changes it.
    """
    index = {name: i for i, name in enumerate(classes)}
    pairs: dict[tuple[int, int], int] = {}
    for v in ann.values():
        labels = [index[lab] for lab in v.video_labels]
        for a in range(len(labels)):
            for b in range(a + 1, len(labels)):
                pairs[labels[a], labels[b]] = pairs.get((labels[a], labels[b]), 0) + 1
    parent = list(range(len(classes)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for (a, b), count in sorted(pairs.items()):
        if count >= 2:
            parent[max(root(a), root(b))] = min(root(a), root(b))
    roots = [root(i) for i in range(len(classes))]
    grouped = {r for r in roots if roots.count(r) > 1}
    family: dict[int, int] = {r: k for k, r in enumerate(sorted(grouped))}
    singles = [i for i, r in enumerate(roots) if r not in grouped]
    out = [family[r] if r in grouped else -1 for r in roots]
    for j, i in enumerate(singles):
        out[i] = len(family) + j // family_size
    return tuple(out)


def family_members(class_index: int, num_classes: int, family_size: int) -> list[int]:
    """Indices of the classes in the family of ``class_index`` (families are consecutive index blocks)."""
    start = (class_index // family_size) * family_size
    return list(range(start, min(start + family_size, num_classes)))


def _place_segments(rng: np.random.Generator, n: int, duration: float, min_len: float, max_len: float) -> np.ndarray:
    """Up to ``n`` non-overlapping segments inside ``[0, duration]`` with log-uniform lengths.

    Returns:
        (K, 2) segments in seconds sorted by start, K <= n (rounding to 10 ms can empty a tiny one).
    """
    if n == 0:
        return np.zeros((0, 2))
    lengths = np.exp(rng.uniform(np.log(min_len), np.log(max_len), size=n))
    # Shrink the instances together when they cannot fit in 80% of the video, so that gaps remain.
    lengths *= min(1.0, 0.8 * duration / lengths.sum())
    gaps = rng.dirichlet(np.ones(n + 1)) * (duration - lengths.sum())
    starts = np.cumsum(gaps[:-1]) + np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    segs = np.round(np.stack([starts, starts + lengths], axis=1), 2)
    segs = np.clip(segs, 0.0, duration)
    return segs[segs[:, 1] > segs[:, 0]]
