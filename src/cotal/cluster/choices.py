"""Settings of the clustering that cotal chooses from the unlabelled training videos (docs/clustering.md, "Label-free
choices").

``cluster.center: auto`` centres each video's snippets on its median snippet when a large share of all snippet
variance is constant within videos (:func:`video_share`). Such a per-video constant -- who recorded the video,
which sensor, which camera -- passes unchanged through any temporal pooling, attention included, since pooling
weights sum to 1: left in, it decides the clusters whatever the attention finds; centred, it is gone. Where the
share is small the median carries what the videos share (background, scene), and centring would only remove the
part of a long action that fills most of its video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from cotal.cluster.descriptors import joint_snippets
from cotal.data.dataset import FeatureDataset
from cotal.data.normalize import Normalization

# Centre when more than this share of the snippets' variance is constant within videos. The development suite's
# datasets without per-video signatures measure 0.04-0.20 and the one with them 0.35 (docs/benchmarks.md).
CENTER_THRESHOLD = 0.25


@dataclass(frozen=True)
class CenterChoice:
    """Whether the clustering centres each video on its median snippet, and why.

    Attributes:
        center: the decision every round uses.
        setting: ``cluster.center`` as configured (True, False or "auto").
        video_share: the share of snippet variance constant within videos (:func:`video_share`); measured for
            "auto" only, else None.
        threshold: the share above which "auto" centres.
    """

    center: bool
    setting: bool | str
    video_share: float | None = None
    threshold: float = CENTER_THRESHOLD

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> CenterChoice:
        """The choice :meth:`to_json` wrote (other keys stored beside it are ignored)."""
        return cls(**{f.name: saved[f.name] for f in fields(cls)})

    def describe(self) -> str:
        """One line for the log: the decision and, for "auto", the statistic that made it."""
        what = "centred on each video's median snippet" if self.center else "not centred"
        if self.video_share is None:
            return f"cluster.center={self.setting}: descriptors {what}"
        sign = ">" if self.center else "<="
        return (
            f"cluster.center=auto: {self.video_share:.3f} of the snippet variance is constant within videos "
            f"({sign} {self.threshold}): descriptors {what}"
        )


def video_share(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    streams: Sequence[str],
    normalization: Normalization | None,
) -> float:
    """Share of the snippets' variance that is constant within videos, in [0, 1].

    On the joint snippets the clustering sees (:func:`cotal.cluster.descriptors.joint_snippets`, uncentred):
    ``B / (B + W)`` with ``B`` the variance of the per-video median snippets around their mean and ``W`` the mean
    squared distance of a snippet from its video's mean. One video in memory at a time.
    """
    medians, within, count = [], 0.0, 0
    for vid in video_ids:
        x = joint_snippets(dataset, vid, streams, normalization, False).astype(np.float64)
        medians.append(np.median(x, axis=0))
        within += float(np.square(x - x.mean(axis=0)).sum())
        count += len(x)
    m = np.stack(medians)
    between = float(np.square(m - m.mean(axis=0)).sum(axis=1).mean())
    total = between + within / max(count, 1)
    return between / total if total > 0 else 0.0


def choose_center(
    setting: bool | str,
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    streams: Sequence[str],
    normalization: Normalization | None,
) -> CenterChoice:
    """The centring of a run: ``setting`` when it is True or False; for "auto", :func:`video_share` against
    :data:`CENTER_THRESHOLD`."""
    if setting != "auto":
        return CenterChoice(center=bool(setting), setting=setting)
    share = video_share(dataset, video_ids, streams, normalization)
    return CenterChoice(center=share > CENTER_THRESHOLD, setting="auto", video_share=round(share, 6))
