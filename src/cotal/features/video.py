"""Decoding with PyAV: frames resampled to a fixed rate, resized and centre-cropped, streamed in order.

A long video (THUMOS14 has 30-minute ones) is never held in memory: :func:`iter_frames` yields one
processed frame at a time and the caller groups them into snippets.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from cotal.errors import DataError
from cotal.utils.deps import require

av = require("av", "video decoding")
cv2 = require("cv2", "video decoding")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video before decoding.

    Attributes:
        width, height: native frame size.
        native_fps: average frame rate of the stream (0 when unknown).
        duration: seconds (0 when the container does not say).
    """

    width: int
    height: int
    native_fps: float
    duration: float


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open the container and read its video stream's header; unreadable files raise :class:`DataError`."""
    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            return _info(container, stream)
    except av.FFmpegError as e:
        raise DataError(f"{path}: cannot open video ({_reason(e)})") from None


def iter_frames(
    path: str | os.PathLike, *, fps: float, resize_short: int, crop: int
) -> Iterator[tuple[float, np.ndarray]]:
    """Decode ``path`` at ``fps`` frames per second by nearest-timestamp resampling.

    Output frame k shows the decoded frame whose timestamp is nearest to k / fps (frames are repeated or
    dropped as needed); frames run while k / fps is before the end of the last decoded frame.

    Args:
        fps: output frame rate.
        resize_short: the shorter side is resized to this (aspect kept); 0 keeps the native size.
        crop: side of the centre square crop (<= the resized shorter side); 0 keeps the whole frame.

    Yields:
        (time in seconds, (H, W, 3) uint8 RGB frame).

    Raises:
        DataError: missing, empty or undecodable file (also when the error happens mid-stream).
    """
    path = Path(path)
    _check_file(path)
    step = 1.0 / fps
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise DataError(f"{path}: cannot open video ({_reason(e)})") from None
    with container:
        try:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            info = _info(container, stream)
            frame_len = 1.0 / info.native_fps if info.native_fps > 0 else step
            k = 0
            prev: tuple[float, av.VideoFrame] | None = None
            image: np.ndarray | None = None  # prev converted, resized and cropped, once it is needed
            for frame in container.decode(stream):
                t = _frame_time(frame, stream, prev, frame_len)
                if prev is not None and t <= prev[0]:
                    continue  # duplicate or out-of-order timestamp: keep the first
                if prev is not None:
                    boundary = 0.5 * (prev[0] + t)  # output times before the midpoint are nearer to prev
                    while k * step < boundary:
                        if image is None:  # converted when first used: frames the resampling drops never are
                            image = _process(prev[1].to_ndarray(format="rgb24"), resize_short, crop)
                        yield k * step, image
                        k += 1
                prev, image = (t, frame), None
            if prev is not None and image is None:
                image = _process(prev[1].to_ndarray(format="rgb24"), resize_short, crop)
        except av.FFmpegError as e:
            raise DataError(f"{path}: cannot decode video ({_reason(e)})") from None
    if prev is None or image is None:
        raise DataError(f"{path}: the video stream holds no decodable frame")
    end = prev[0] + frame_len
    while k * step < end - 1e-6:
        yield k * step, image
        k += 1


def _process(image: np.ndarray, resize_short: int, crop: int) -> np.ndarray:
    """Resize (H, W, 3) so the shorter side is ``resize_short`` (0: unchanged), then centre-crop ``crop``."""
    h, w = image.shape[:2]
    if resize_short and min(h, w) != resize_short:
        scale = resize_short / min(h, w)
        size = (max(resize_short, round(w * scale)), max(resize_short, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, size, interpolation=interp)
        h, w = image.shape[:2]
    if crop:
        if crop > min(h, w):
            raise DataError(f"crop {crop} is larger than the resized frame {w}x{h}")
        top, left = (h - crop) // 2, (w - crop) // 2
        image = image[top : top + crop, left : left + crop]
    return np.ascontiguousarray(image)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise DataError(f"{path}: no video stream")
    return container.streams.video[0]


def _info(container: av.container.InputContainer, stream: av.VideoStream) -> VideoInfo:
    rate = stream.average_rate or stream.base_rate or Fraction(0)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    return VideoInfo(width=stream.width, height=stream.height, native_fps=float(rate), duration=duration)


def _frame_time(
    frame: av.VideoFrame, stream: av.VideoStream, prev: tuple[float, object] | None, frame_len: float
) -> float:
    """Presentation time of a frame relative to the stream start; frames without one follow the previous."""
    if frame.pts is None or stream.time_base is None:
        return 0.0 if prev is None else prev[0] + frame_len
    start = stream.start_time or 0
    return float((frame.pts - start) * stream.time_base)


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.splitlines()[0] if text else type(e).__name__


def expected_frames(duration: float, fps: float) -> int:
    """Frames :func:`iter_frames` yields for a video of ``duration`` seconds (for progress estimates)."""
    return max(0, math.ceil(duration * fps - 1e-6))
