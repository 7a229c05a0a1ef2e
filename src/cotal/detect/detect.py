"""Late fusion of stream outputs and detection of temporal segments (docs/method.md §8; docs/detection.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cotal.data.timing import SnippetTiming
from cotal.detect.config import (
    CLASS_THRESHOLD,
    CONTEXT_RATIO,
    NMS_TIOU,
    PROB_WEIGHT,
    STREAM_WEIGHTS,
    THRESHOLDS,
    DetectConfig,
)
from cotal.detect.nms import nms
from cotal.detect.proposals import contrast_scores, minmax_normalize, smooth, threshold_proposals, upsample
from cotal.errors import DataError
from cotal.model.outputs import VideoOutput

# Authors' adaptive smoothing rule: window = n_frames / 16, capped at 255 frames.
_ADAPTIVE_DIVISOR, _ADAPTIVE_MAX = 16, 255
_TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True)
class FusedOutput:
    """One video's outputs after late fusion of the streams.

    Attributes:
        cas: (T, C) float64 fused class activation logits.
        attention: (T,) float64 class-agnostic attention S.
        probs: (C,) float64 video class probabilities (sum to 1).
    """

    cas: np.ndarray
    attention: np.ndarray
    probs: np.ndarray


def fuse_streams(video_outputs: Mapping[str, VideoOutput], *, video_id: str, num_classes: int) -> FusedOutput:
    """Late fusion of one video's per-stream outputs with the authors' weights (:data:`STREAM_WEIGHTS`).

    The class activations A and the attention S are weighted means over the streams; the video probabilities are
    the softmax of the weighted mean of the log-probabilities, which differ from the logits p only by a
    per-stream constant, so they equal the softmax of the fused p.

    Args:
        video_outputs: stream -> :class:`VideoOutput`.
        video_id: for error messages.
        num_classes: C.
    Returns:
        :class:`FusedOutput` with (T, C), (T,), (C,) float64 arrays.
    Raises:
        DataError: no stream, an unknown stream, another C, or streams of different lengths.
    """
    if not video_outputs:
        raise DataError(f"video {video_id!r}: no stream outputs")
    for stream, out in video_outputs.items():
        if stream not in STREAM_WEIGHTS:
            raise DataError(f"video {video_id!r}: unknown stream {stream!r} (streams: {', '.join(STREAM_WEIGHTS)})")
        if not isinstance(out, VideoOutput):
            raise DataError(f"video {video_id!r}, stream {stream!r}: expected a VideoOutput, got {type(out).__name__}")
        if out.num_classes != num_classes:
            raise DataError(
                f"video {video_id!r}, stream {stream!r}: outputs have {out.num_classes} classes, "
                f"but {num_classes} class names are given"
            )
    lengths = {s: out.num_snippets for s, out in video_outputs.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"video {video_id!r}: streams have different numbers of snippets {lengths}")
    weights = np.asarray([STREAM_WEIGHTS[s] for s in video_outputs], dtype=np.float64)
    weights = weights / weights.sum()

    def wmean(name: str) -> np.ndarray:
        stacked = np.stack([getattr(out, name) for out in video_outputs.values()]).astype(np.float64)
        return np.tensordot(weights, stacked, axes=1)

    logp = np.tensordot(
        weights,
        np.log(np.clip(np.stack([o.probs for o in video_outputs.values()]).astype(np.float64), _TINY, None)),
        axes=1,
    )
    fused_probs = np.exp(logp - logp.max())
    fused_probs /= fused_probs.sum()
    return FusedOutput(cas=wmean("cas"), attention=wmean("attention"), probs=fused_probs)


def kept_classes(probs: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Classes that pass the video-level gate.

    Args:
        probs: (C,) fused video probabilities.
    Returns:
        (K,) int class indices, ascending: probability > :data:`CLASS_THRESHOLD`, plus the top-1 class when
        ``keep_top1``.
    """
    keep = probs > CLASS_THRESHOLD
    if config.keep_top1 and len(probs):
        keep[int(np.argmax(probs))] = True
    return np.flatnonzero(keep)


def _activations(fused: FusedOutput, classes: np.ndarray, config: DetectConfig) -> np.ndarray:
    """(T, K) activation of the kept classes, min-max normalised over time (before upsampling, as the authors)."""
    if config.activation == "cas":
        return minmax_normalize(fused.cas[:, classes])
    e = np.exp(fused.cas - fused.cas.max(axis=1, keepdims=True))
    class_softmax = e / e.sum(axis=1, keepdims=True)
    return minmax_normalize(fused.attention[:, None] * class_softmax[:, classes])


def _smoothing_window(config: DetectConfig, num_snippets: int, timing: SnippetTiming, factor: int) -> int:
    """Smoothing window in samples (odd, or < 3 for none) for ``factor`` samples per snippet."""
    if config.smooth_window is None:
        n_frames = int(round(num_snippets * timing.stride))
        frames = max(min(_ADAPTIVE_MAX, n_frames // _ADAPTIVE_DIVISOR), 3)
        frames -= 1 - frames % 2
    else:
        frames = config.smooth_window
    window = int(round(frames * factor / timing.stride))
    return window - (1 - window % 2)


def detect_video(
    video_outputs: Mapping[str, VideoOutput],
    *,
    video_id: str,
    timing: SnippetTiming,
    duration: float,
    class_names: Sequence[str],
    config: DetectConfig,
) -> list[dict[str, Any]]:
    """Detect action segments in one video.

    Args:
        video_outputs: stream -> :class:`VideoOutput` (A (T, C), S (T,), softmax(p) (C,)).
        video_id: for error messages.
        timing: snippet timing of the features (snippet i covers [i, i + 1) x stride / fps seconds).
        duration: video length in seconds; segments are clipped to [0, duration].
        class_names: C labels, in class-index order (class names in weak mode, "0".."C-1" for clusters).
        config: detection settings.
    Returns:
        ActivityNet result entries ``{"segment": [start, end], "label": str, "score": float}``, by decreasing
        score; every segment satisfies ``0 <= start < end <= duration``.
    Raises:
        DataError: malformed outputs (see :func:`fuse_streams`) or a non-positive/non-finite duration.
    """
    if not np.isfinite(duration) or duration <= 0:
        raise DataError(f"video {video_id!r}: duration must be a positive number of seconds, got {duration!r}")
    fused = fuse_streams(video_outputs, video_id=video_id, num_classes=len(class_names))
    num_snippets = fused.cas.shape[0]
    if num_snippets == 0:
        return []
    classes = kept_classes(fused.probs, config)
    if len(classes) == 0:
        return []
    factor = max(1, int(round(timing.stride))) if config.resolution == "frame" else 1
    samples = upsample(_activations(fused, classes, config), factor, alignment=config.frame_alignment)
    samples = smooth(samples, _smoothing_window(config, num_snippets, timing, factor))
    dilation = int(round(config.dilation * factor / timing.stride))
    thresholds = np.asarray(THRESHOLDS)

    dets = []
    for k, c in enumerate(classes):
        activation = samples[:, k]
        runs = threshold_proposals(activation, thresholds=thresholds, dilation=dilation)
        if len(runs) == 0:
            continue
        scores = contrast_scores(activation, runs, context_ratio=CONTEXT_RATIO)
        scores += PROB_WEIGHT * fused.probs[c]
        segments = np.clip(np.asarray(timing.to_seconds(runs / factor)).reshape(-1, 2), 0.0, duration)
        lengths = segments[:, 1] - segments[:, 0]
        segments, scores = segments[lengths > 0], scores[lengths > 0]
        order = nms(segments, scores, tiou=NMS_TIOU)
        label = str(class_names[c])
        dets.extend(
            {"segment": [float(s), float(e)], "label": label, "score": float(sc)}
            for (s, e), sc in zip(segments[order], scores[order], strict=True)
        )
    dets.sort(key=lambda d: -d["score"])
    return dets if config.max_per_video is None else dets[: config.max_per_video]


def detect(
    outputs: Mapping[str, Mapping[str, VideoOutput]],
    *,
    timing: SnippetTiming,
    durations: Mapping[str, float],
    class_names: Sequence[str],
    config: DetectConfig | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Detect action segments in every video of the outputs.

    Args:
        outputs: stream -> video id -> :class:`VideoOutput` (the trainer's export); every stream must hold the
            same videos.
        timing: snippet timing of the features.
        durations: video id -> duration in seconds (from the annotations).
        class_names: C labels in class-index order.
        config: detection settings; ``None`` = :class:`DetectConfig` defaults.
    Returns:
        video id -> ActivityNet result entries (see :func:`detect_video`), video ids sorted.
    Raises:
        DataError: no streams, videos missing from a stream or from ``durations``, or malformed outputs.
    """
    config = config if config is not None else DetectConfig()
    if not outputs:
        raise DataError("detect: outputs hold no stream")
    streams = sorted(outputs)
    videos = sorted(set().union(*(outputs[s].keys() for s in streams)))
    results = {}
    for vid in videos:
        missing = [s for s in streams if vid not in outputs[s]]
        if missing:
            raise DataError(f"video {vid!r}: missing from the outputs of stream(s) {missing}")
        if vid not in durations:
            raise DataError(f"video {vid!r}: no duration given (is it in the annotations?)")
        results[vid] = detect_video(
            {s: outputs[s][vid] for s in streams},
            video_id=vid,
            timing=timing,
            duration=float(durations[vid]),
            class_names=class_names,
            config=config,
        )
    return results
