"""Configuration of the detection stage (turning attention outputs into temporal segments)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from cotal.errors import ConfigError
from cotal.utils.configs import check_choices, check_range


def _default_stream_weights() -> dict[str, float]:
    return {"rgb": 2.0, "flow": 1.0}


def _default_thresholds() -> tuple[float, ...]:
    return tuple(round(0.1 * k, 1) for k in range(1, 11))


@dataclass
class DetectConfig:
    """How activations become detections. The defaults follow the authors' released procedure (docs/method.md §8).

    See ``docs/detection.md`` for the step-by-step procedure and where we depart from the authors' code.

    Attributes:
        stream_weights: late-fusion weight of each stream (authors: rgb 2, flow 1). Every stream present in the
            outputs must have a weight; streams absent from the outputs are ignored.
        fusion: ``"logits"`` (authors): weighted mean of the raw class activations A and of the video logits p
            (recovered from the exported probabilities as log-probabilities, which differ from p only by a
            per-stream constant, so ``softmax`` of their weighted mean equals ``softmax`` of the fused p) and of
            the attention S. ``"normalized"``: min-max normalise every stream's A columns over time first, then
            take weighted means of the normalised A, of the probabilities and of S.
        class_threshold: keep a class when its fused video probability is strictly above this (authors: 0.1).
        keep_top1: also keep the most probable class, so every video yields candidates (not in the authors' code,
            where a video whose probabilities are all <= the threshold yields nothing).
        activation: ``"cas"`` (authors' default ``metric_type="score"``): the fused A column. ``"cas_x_attention"``
            (authors' ``metric_type="multiply"``): S(t) * softmax over classes of A(t), which suppresses snippets
            the class-agnostic attention considers background.
        resolution: ``"frame"`` (authors): interpolate the activation to ``stride`` samples per snippet before
            smoothing and grouping. ``"snippet"``: work on the T snippets directly (about ``stride`` times less
            work; dilation and smoothing windows are converted to snippets).
        frame_alignment: where a snippet's value sits when interpolating to frames: ``"center"`` (default; the
            middle of the snippet's time span, consistent with :class:`cotal.data.SnippetTiming`) or ``"start"``
            (authors: the snippet's first frame, which shifts segments half a snippet earlier).
        smooth_window: Savitzky-Golay (order 1) window in frames; ``None`` = the authors' adaptive rule
            ``min(255, n_frames // 16)``, made odd, at least 3; 0 or 1 turns smoothing off.
        threshold_mode: ``"mean"`` (authors): a threshold t keeps samples whose activation is > t x the mean of
            the (normalised, smoothed) activation. ``"absolute"``: > t itself (the activation is in [0, 1]).
        thresholds: the threshold values; every one yields its own proposals (authors: 0.1, 0.2, ..., 1.0).
        dilation: binary dilation of each thresholded mask, in frames (authors: 20, i.e. 1.25 snippets); 0 or 1
            turns it off. At snippet resolution it becomes ``round(dilation / stride)`` snippets.
        context_ratio: the outer context on each side of a proposal, as a fraction of its length (authors: 0.25).
        prob_weight: weight of the class's fused video probability added to each proposal score (authors: 0.25).
        nms: ``"hard"`` (authors): greedy non-maximum suppression per class; ``"soft"``: Gaussian soft-NMS.
        nms_tiou: hard NMS drops a proposal whose tIoU with a kept, higher-scoring one is > this (authors: 0.65).
        soft_nms_sigma: Gaussian soft-NMS decays scores by ``exp(-tiou^2 / sigma)``.
        min_length: drop proposals shorter than this many seconds (before NMS). 0 = keep all (authors).
        max_per_video: keep at most this many detections per video, highest scores first; ``None`` = no cap
            (authors). The ActivityNet evaluation server accepts at most 100.
    """

    stream_weights: dict[str, float] = field(default_factory=_default_stream_weights)
    fusion: Literal["logits", "normalized"] = "logits"
    class_threshold: float = 0.1
    keep_top1: bool = True
    activation: Literal["cas", "cas_x_attention"] = "cas"
    resolution: Literal["frame", "snippet"] = "frame"
    frame_alignment: Literal["center", "start"] = "center"
    smooth_window: int | None = None
    threshold_mode: Literal["mean", "absolute"] = "mean"
    thresholds: tuple[float, ...] = field(default_factory=_default_thresholds)
    dilation: int = 20
    context_ratio: float = 0.25
    prob_weight: float = 0.25
    nms: Literal["hard", "soft"] = "hard"
    nms_tiou: float = 0.65
    soft_nms_sigma: float = 0.5
    min_length: float = 0.0
    max_per_video: int | None = None

    def __post_init__(self) -> None:
        self.thresholds = tuple(float(t) for t in self.thresholds)
        self.stream_weights = {str(k): float(v) for k, v in self.stream_weights.items()}
        check_choices(self, "detect")
        if not self.stream_weights:
            raise ConfigError("detect.stream_weights is empty")
        for stream, w in self.stream_weights.items():
            if not math.isfinite(w) or w < 0:
                raise ConfigError(f"detect.stream_weights[{stream!r}] must be finite and >= 0, got {w}")
        if not self.thresholds or not all(math.isfinite(t) for t in self.thresholds):
            raise ConfigError(f"detect.thresholds must be a non-empty list of numbers, got {self.thresholds}")
        check_range(self, "detect", ("class_threshold", "context_ratio", "prob_weight", "min_length"), low=0)
        check_range(self, "detect", ("nms_tiou",), low=0, high=1)
        check_range(self, "detect", ("soft_nms_sigma",), low=0, low_open=True)
        check_range(self, "detect", ("dilation",), low=0, integer=True)
        check_range(self, "detect", ("smooth_window",), low=0, integer=True, optional=True)
        check_range(self, "detect", ("max_per_video",), low=1, integer=True, optional=True)
