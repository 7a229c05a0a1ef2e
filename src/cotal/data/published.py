"""What every reader of a published layout returns (:class:`PublishedDataset`), and the subset names of the
field's usual train/test splits; shared by :mod:`cotal.data.readers` and :mod:`cotal.data.actionformer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cotal.data.annotations import Annotations
from cotal.data.dataset import DatasetMeta

# (train, test) subset names by the set of subsets a source uses.
KNOWN_SPLITS = {
    frozenset({"validation", "test"}): ("validation", "test"),  # THUMOS14
    frozenset({"training", "validation"}): ("training", "validation"),  # ActivityNet
}


@dataclass
class PublishedDataset:
    """A published dataset read into memory (annotations) with per-video feature access.

    Attributes:
        source: where it was read from.
        meta: fps / stride / subset names for the native ``dataset.yaml``.
        annotations: ground truth of the videos that have features (subsets already renamed).
        streams: streams present, in ``("rgb", "flow")`` order.
        load: video id -> stream -> (T, D) float32 features (what :meth:`features` returns).
        dropped: annotated videos without features (left out of ``annotations``).
    """

    source: str
    meta: DatasetMeta
    annotations: Annotations
    streams: tuple[str, ...]
    load: Callable[[str], dict[str, np.ndarray]]
    dropped: list[str] = field(default_factory=list)

    @property
    def video_ids(self) -> list[str]:
        return self.annotations.ids()

    def features(self, video_id: str) -> dict[str, np.ndarray]:
        """Stream -> (T, D) float32 array of one video."""
        return self.load(video_id)
