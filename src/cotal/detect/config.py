"""Configuration of the detection stage (turning model outputs into temporal segments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import check_choices, check_range

# The authors' constants (docs/method.md §8): late-fusion weights of the streams, the video-level class gate,
# the multi-threshold grouping (t x the mean activation), the outer-inner contrast score and class-wise NMS.
STREAM_WEIGHTS = {"rgb": 2.0, "flow": 1.0}
CLASS_THRESHOLD = 0.1
THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 11))
CONTEXT_RATIO = 0.25
PROB_WEIGHT = 0.25
NMS_TIOU = 0.65


@dataclass
class DetectConfig:
    """How activations become detections. The defaults follow the authors' released procedure (docs/method.md §8).

    See ``docs/detection.md`` for the step-by-step procedure and where cotal departs from the authors' code.

    Attributes:
        keep_top1: also keep the most probable class, so every video yields candidates (docs/method.md D8; the
            authors' code keeps only classes above ``CLASS_THRESHOLD``, and a video whose probabilities are all
            below it yields nothing).
        activation: ``"cas"`` (authors' default ``metric_type="score"``): the fused A column. ``"cas_x_attention"``
            (authors' ``metric_type="multiply"``): S(t) * softmax over classes of A(t), which suppresses snippets
            the class-agnostic attention considers background.
        resolution: ``"frame"`` (authors): interpolate the activation to ``stride`` samples per snippet before
            smoothing and grouping. ``"snippet"``: work on the T snippets directly (about ``stride`` times less
            work; dilation and smoothing windows are converted to snippets).
        frame_alignment: where a snippet's value sits when interpolating to frames: ``"center"`` (default; the
            middle of the snippet's time span, consistent with :class:`cotal.data.SnippetTiming`) or ``"start"``
            (authors: the snippet's first frame, which shifts segments half a snippet earlier; D9).
        smooth_window: Savitzky-Golay (order 1) window in frames; ``None`` = the authors' adaptive rule
            ``min(255, n_frames // 16)``, made odd, at least 3; 0 or 1 turns smoothing off.
        dilation: binary dilation of each thresholded mask, in frames (authors: 20, i.e. 1.25 snippets); 0 or 1
            turns it off. At snippet resolution it becomes ``round(dilation / stride)`` snippets.
        max_per_video: keep at most this many detections per video, highest scores first; ``None`` = no cap
            (authors). The ActivityNet evaluation server accepts at most 100.
    """

    keep_top1: bool = True
    activation: Literal["cas", "cas_x_attention"] = "cas"
    resolution: Literal["frame", "snippet"] = "frame"
    frame_alignment: Literal["center", "start"] = "center"
    smooth_window: int | None = None
    dilation: int = 20
    max_per_video: int | None = None

    def __post_init__(self) -> None:
        check_choices(self, "detect")
        check_range(self, "detect", ("dilation",), low=0, integer=True)
        check_range(self, "detect", ("smooth_window",), low=0, integer=True, optional=True)
        check_range(self, "detect", ("max_per_video",), low=1, integer=True, optional=True)
