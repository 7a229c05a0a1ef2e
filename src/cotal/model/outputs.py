"""What a trained model says about a video, as one typed value (free of PyTorch: detection and the report read it).

A model run over a full video (:func:`cotal.train.export_outputs`) gives its class activation sequence A, its
class-agnostic attention S and its video probabilities softmax(p) (docs/method.md §5). Outputs of one model
travel as ``{video_id: VideoOutput}``; those of a run's models as ``{stream: {video_id: VideoOutput}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from cotal.errors import DataError


@dataclass(frozen=True)
class VideoOutput:
    """One model's outputs on one video.

    Attributes:
        cas: (T, C) float32 class activation logits A.
        attention: (T,) float32 class-agnostic attention S (non-negative, sums to 1 over the video).
        probs: (C,) float32 video class probabilities softmax(p).

    Raises:
        DataError: wrong dimensions, shapes that disagree, or non-finite values (the message names the array;
            callers prefix the video).
    """

    cas: np.ndarray
    attention: np.ndarray
    probs: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float32))
        cas, att, probs = self.cas, self.attention, self.probs
        if cas.ndim != 2 or att.shape != (cas.shape[0],) or probs.shape != (cas.shape[1],):
            raise DataError(
                f"outputs must be cas (T, C), attention (T,) and probs (C,); got cas {cas.shape}, "
                f"attention {att.shape}, probs {probs.shape}"
            )
        for f in fields(self):
            if not np.isfinite(getattr(self, f.name)).all():
                raise DataError(f"outputs: {f.name!r} contains NaN or infinite values")

    @property
    def num_snippets(self) -> int:
        """T."""
        return int(self.cas.shape[0])

    @property
    def num_classes(self) -> int:
        """C."""
        return int(self.cas.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The three arrays by field name (for files)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


OUTPUT_KEYS = tuple(f.name for f in fields(VideoOutput))
