"""Late fusion of stream outputs and detection of temporal segments (docs/method.md §8; docs/detection.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cotal.data.timing import SnippetTiming
from cotal.detect.config import DetectConfig
from cotal.detect.nms import nms, soft_nms
from cotal.detect.proposals import contrast_scores, minmax_normalize, smooth, threshold_proposals, upsample
from cotal.errors import DataError
from cotal.model.io import OUTPUT_KEYS

# Authors' adaptive smoothing rule: window = n_frames / 16, capped at 255 frames.
_ADAPTIVE_DIVISOR, _ADAPTIVE_MAX = 16, 255


@dataclass(frozen=True)
class FusedOutput:
    """One video's outputs after late fusion of the streams.

    Attributes:
        cas: (T, C) float64 class activations (fused logits, or fused normalised activations).
        attention: (T,) float64 class-agnostic attention S.
        probs: (C,) float64 video class probabilities (sum to 1).
    """

    cas: np.ndarray
    attention: np.ndarray
    probs: np.ndarray


def _check_video(stream: str, video_id: str, arrays: Any, num_classes: int) -> tuple[np.ndarray, ...]:
    """Validate one stream's arrays for one video; returns (cas (T, C), attention (T,), probs (C,)) as float64."""
    where = f"video {video_id!r}, stream {stream!r}"
    if not isinstance(arrays, Mapping):
        raise DataError(f"{where}: outputs must be a dict with keys {OUTPUT_KEYS}, got {type(arrays).__name__}")
    missing = [k for k in OUTPUT_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{where}: outputs lack key(s) {missing}")
    cas, att, probs = (np.asarray(arrays[k], dtype=np.float64) for k in OUTPUT_KEYS)
    if cas.ndim != 2 or cas.shape[1] != num_classes:
        raise DataError(f"{where}: 'cas' must have shape (T, {num_classes}) (C = len(class_names)), got {cas.shape}")
    if att.shape != (cas.shape[0],):
        raise DataError(f"{where}: 'attention' must have shape ({cas.shape[0]},) to match 'cas', got {att.shape}")
    if probs.shape != (num_classes,):
        raise DataError(f"{where}: 'probs' must have shape ({num_classes},), got {probs.shape}")
    for key, arr in zip(OUTPUT_KEYS, (cas, att, probs), strict=True):
        if not np.isfinite(arr).all():
            raise DataError(f"{where}: '{key}' contains NaN or infinite values")
    return cas, att, probs


def fuse_streams(
    video_outputs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    video_id: str,
    num_classes: int,
    config: DetectConfig,
) -> FusedOutput:
    """Late fusion of one video's per-stream outputs with ``config.stream_weights`` (weighted means).

    Args:
        video_outputs: stream -> {"cas": (T, C), "attention": (T,), "probs": (C,)}.
        video_id: for error messages.
        num_classes: C.
        config: uses ``stream_weights`` and ``fusion`` (see :class:`DetectConfig`).
    Returns:
        :class:`FusedOutput` with (T, C), (T,), (C,) float64 arrays.
    Raises:
        DataError: no stream, a stream without a weight, missing keys, mismatched shapes, non-finite values.
    """
    if not video_outputs:
        raise DataError(f"video {video_id!r}: no stream outputs")
    checked = {}
    for stream, arrays in video_outputs.items():
        if stream not in config.stream_weights:
            raise DataError(
                f"video {video_id!r}: unknown stream {stream!r} (DetectConfig.stream_weights has "
                f"{sorted(config.stream_weights)})"
            )
        checked[stream] = _check_video(stream, video_id, arrays, num_classes)
    lengths = {s: v[0].shape[0] for s, v in checked.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"video {video_id!r}: streams have different numbers of snippets {lengths}")
    weights = np.asarray([config.stream_weights[s] for s in checked], dtype=np.float64)
    if weights.sum() <= 0:
        raise DataError(f"video {video_id!r}: the weights of its streams {sorted(checked)} are all zero")
    weights = weights / weights.sum()
    cas, att, probs = (np.stack([v[i] for v in checked.values()]) for i in range(3))

    def wmean(x: np.ndarray) -> np.ndarray:
        return np.tensordot(weights, x, axes=1)

    if config.fusion == "logits":
        # log softmax(p) = p - logsumexp(p): the per-stream constant cancels in the softmax of the weighted mean.
        logp = wmean(np.log(np.clip(probs, np.finfo(np.float64).tiny, None)))
        fused_probs = np.exp(logp - logp.max())
        fused_probs /= fused_probs.sum()
        return FusedOutput(cas=wmean(cas), attention=wmean(att), probs=fused_probs)
    normed = np.stack([minmax_normalize(c) for c in cas])
    fused_probs = wmean(probs)
    return FusedOutput(cas=wmean(normed), attention=wmean(att), probs=fused_probs / max(fused_probs.sum(), 1e-300))


def kept_classes(probs: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Classes that pass the video-level gate.

    Args:
        probs: (C,) fused video probabilities.
    Returns:
        (K,) int class indices, ascending: probability > ``class_threshold``, plus the top-1 class when
        ``keep_top1``.
    """
    keep = probs > config.class_threshold
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
    video_outputs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    video_id: str,
    timing: SnippetTiming,
    duration: float,
    class_names: Sequence[str],
    config: DetectConfig,
) -> list[dict[str, Any]]:
    """Detect action segments in one video.

    Args:
        video_outputs: stream -> {"cas": (T, C) logits A, "attention": (T,) S, "probs": (C,) softmax(p)}.
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
    fused = fuse_streams(video_outputs, video_id=video_id, num_classes=len(class_names), config=config)
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
    thresholds = np.asarray(config.thresholds)

    dets = []
    for k, c in enumerate(classes):
        activation = samples[:, k]
        runs = threshold_proposals(
            activation, thresholds=thresholds, relative_to_mean=config.threshold_mode == "mean", dilation=dilation
        )
        if len(runs) == 0:
            continue
        scores = contrast_scores(activation, runs, context_ratio=config.context_ratio)
        scores += config.prob_weight * fused.probs[c]
        segments = np.clip(np.asarray(timing.to_seconds(runs / factor)).reshape(-1, 2), 0.0, duration)
        lengths = segments[:, 1] - segments[:, 0]
        ok = (lengths > 0) & (lengths >= config.min_length)
        segments, scores = segments[ok], scores[ok]
        if config.nms == "hard":
            order = nms(segments, scores, tiou=config.nms_tiou)
            kept_scores = scores[order]
        else:
            order, kept_scores = soft_nms(segments, scores, sigma=config.soft_nms_sigma)
        label = str(class_names[c])
        dets.extend(
            {"segment": [float(s), float(e)], "label": label, "score": float(sc)}
            for (s, e), sc in zip(segments[order], kept_scores, strict=True)
        )
    dets.sort(key=lambda d: -d["score"])
    return dets if config.max_per_video is None else dets[: config.max_per_video]


def detect(
    outputs: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    *,
    timing: SnippetTiming,
    durations: Mapping[str, float],
    class_names: Sequence[str],
    config: DetectConfig | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Detect action segments in every video of the outputs.

    Args:
        outputs: stream -> video id -> {"cas": (T, C), "attention": (T,), "probs": (C,)} (the trainer's export);
            every stream must hold the same videos.
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
