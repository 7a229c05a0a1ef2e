"""Batch sampler: Z clusters x K videos each (pairs for L_abs / L_trip) plus a uniform fill (L_cls only);
docs/method.md §7.

Follows the authors' code (itself W-TALC's sampler): a batch of ``batch_size`` videos whose first Z*K entries
are K videos from each of Z distinct clusters; the rest are filled uniformly. Authors: K = 2; Z was left
undefined in their release, W-TALC (whose sampler they copy) uses 3, which is the default here.

Labels are per video, either one cluster id (pseudo-labels) or a collection of class ids (ground-truth
video labels in the weakly supervised setting: a multi-label video can be sampled for any of its classes).
Clusters with fewer than 2 videos cannot form a pair and are never drawn for the Z x K part; their videos
still appear in the fill. The fill walks through a fresh random permutation of all videos, so every video
is seen about once per epoch (an epoch = ceil(N / batch_size) batches).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cotal.errors import ConfigError, DataError


@dataclass(frozen=True)
class SampledBatch:
    """One batch: ``indices`` (B,) video indices; ``groups`` (B,) the cluster each video was drawn for in
    the Z x K part, -1 for fill videos. The Z x K part comes first, cluster by cluster."""

    indices: np.ndarray
    groups: np.ndarray


def _normalise_labels(labels: Sequence[int | Sequence[int]] | np.ndarray) -> list[tuple[int, ...]]:
    out = []
    for i, lab in enumerate(labels):
        ids = (int(lab),) if np.ndim(lab) == 0 else tuple(sorted({int(v) for v in lab}))
        if any(v < 0 for v in ids):
            raise DataError(f"sampler: video {i} has a negative label {ids}")
        out.append(ids)
    return out


def label_targets(labels: Sequence[int | Sequence[int]] | np.ndarray, num_classes: int) -> np.ndarray:
    """Target distributions (N, C) float32 for L_cls: each video's mass split evenly over its labels.

    A video without labels gets an all-zero row (it then adds nothing to L_cls).
    """
    norm = _normalise_labels(labels)
    targets = np.zeros((len(norm), num_classes), dtype=np.float32)
    for i, ids in enumerate(norm):
        if any(v >= num_classes for v in ids):
            raise DataError(f"label_targets: video {i} has label(s) {ids} >= num_classes {num_classes}")
        if ids:
            targets[i, list(ids)] = 1.0 / len(ids)
    return targets


class ClusterBatchSampler:
    """Seeded, deterministic sampler of Z x K + fill batches over N training videos.

    Args:
        labels: per video, a cluster id or a collection of class ids.
        batch_size: videos per batch (capped at N).
        clusters_per_batch: Z, clusters drawn per batch (fewer when fewer clusters have >= 2 videos).
        per_cluster: K, videos drawn from each drawn cluster (fewer when the cluster is smaller, >= 2).
        seed: seed of the numpy Generator (or pass ``rng``).
        rng: a numpy Generator to draw from instead of ``seed``.

    Iterating yields one epoch of :class:`SampledBatch`; each iteration continues the same random stream.
    """

    def __init__(
        self,
        labels: Sequence[int | Sequence[int]] | np.ndarray,
        *,
        batch_size: int = 32,
        clusters_per_batch: int = 3,
        per_cluster: int = 2,
        seed: int = 0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.labels = _normalise_labels(labels)
        if not self.labels:
            raise DataError("sampler: no training videos")
        if batch_size <= 0 or clusters_per_batch < 0 or per_cluster < 2:
            raise ConfigError(
                f"sampler: need batch_size > 0, clusters_per_batch >= 0, per_cluster >= 2; "
                f"got {batch_size}, {clusters_per_batch}, {per_cluster}"
            )
        if clusters_per_batch * per_cluster > batch_size:
            raise ConfigError(
                f"sampler: clusters_per_batch * per_cluster = {clusters_per_batch * per_cluster} > batch_size"
            )
        self.batch_size = min(batch_size, len(self.labels))
        self.clusters_per_batch = clusters_per_batch
        self.per_cluster = per_cluster
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        members: dict[int, list[int]] = {}
        for video, ids in enumerate(self.labels):
            for c in ids:
                members.setdefault(c, []).append(video)
        self.members = {c: np.asarray(v) for c, v in sorted(members.items())}
        self.pairable = np.asarray([c for c, v in self.members.items() if len(v) >= 2], dtype=np.int64)
        self._fill_order = np.empty(0, dtype=np.int64)
        self._fill_pos = 0

    @property
    def num_videos(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        """Batches per epoch: ceil(N / batch_size)."""
        return math.ceil(self.num_videos / self.batch_size)

    def __iter__(self) -> Iterator[SampledBatch]:
        for _ in range(len(self)):
            yield self.sample()

    def _next_fill(self, taken: set[int], count: int) -> list[int]:
        """Next ``count`` videos of the running permutation not in ``taken`` (skipped entries are consumed)."""
        out: list[int] = []
        while len(out) < count:
            if self._fill_pos >= len(self._fill_order):
                self._fill_order, self._fill_pos = self.rng.permutation(self.num_videos), 0
            video = int(self._fill_order[self._fill_pos])
            self._fill_pos += 1
            if video not in taken:
                out.append(video)
                taken.add(video)
        return out

    def sample(self) -> SampledBatch:
        """Draw one batch."""
        indices: list[int] = []
        groups: list[int] = []
        taken: set[int] = set()
        z = min(self.clusters_per_batch, len(self.pairable))
        for c in self.rng.permutation(self.pairable)[:z] if z else []:
            free = [int(v) for v in self.members[int(c)] if int(v) not in taken]
            if len(free) < 2:  # multi-label overlap used up this cluster's videos
                continue
            size = min(self.per_cluster, len(free), self.batch_size - len(indices))
            if size < 2:  # the batch (capped at N videos) has no room for another pair
                break
            pick = self.rng.choice(free, size=size, replace=False)
            indices.extend(int(v) for v in pick)
            groups.extend([int(c)] * len(pick))
            taken.update(int(v) for v in pick)
        fill = self._next_fill(taken, self.batch_size - len(indices))
        indices.extend(fill)
        groups.extend([-1] * len(fill))
        return SampledBatch(indices=np.asarray(indices, dtype=np.int64), groups=np.asarray(groups, dtype=np.int64))
