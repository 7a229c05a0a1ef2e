"""The decoding side of extraction, run in a worker thread: frames -> snippets (and their flow) -> batches.

The worker turns each video into events for the network side (:func:`cotal.features.extract.extract_features`):
a :class:`VideoStart`, its :class:`Snippets` batches, then a :class:`VideoEnd` (or a :class:`VideoFailed`).
Decoding (PyAV), resizing and optical flow (OpenCV) release the GIL, so they overlap the network.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotal.errors import CotalError
from cotal.features.backbones import Backbones
from cotal.features.config import ExtractConfig
from cotal.features.flow import flow_to_network_input, to_gray
from cotal.features.video import expected_frames, iter_frames, probe_video


@dataclass
class VideoStart:
    """A video begins: its id, file, the streams it still lacks and its expected number of snippets."""

    vid: str
    path: Path
    streams: tuple[str, ...]
    expected_snippets: int


@dataclass
class Snippets:
    """One network call's worth of snippets of the current video.

    Attributes:
        rgb: (B, stride, H, W, 3) uint8, or None.
        flow: (B, stride, H, W, 2) float32 flow-network input, or None.
        flow_features: (B, D) descriptor features (when there is no flow network), or None.
    """

    count: int
    rgb: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_features: np.ndarray | None = None


@dataclass
class VideoEnd:
    """The current video is decoded: ``num_frames`` frames at the run's fps."""

    num_frames: int


@dataclass
class VideoFailed:
    """The current video cannot be read (its snippets so far are dropped)."""

    path: Path
    error: CotalError


class Prefetcher:
    """Runs an iterator in a worker thread, handing its items over through a bounded queue.

    Decoding (PyAV), resizing and optical flow (OpenCV) release the GIL, so they overlap with the network
    in the caller's thread. The queue bounds the memory held in decoded batches; an exception of the
    iterator is re-raised in the caller at the position where it happened.
    """

    def __init__(self, items: Iterator[Any], maxsize: int) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(items,), name="cotal-decode", daemon=True)
        self._thread.start()

    def _work(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(("item", item)):
                    return
        except BaseException as e:  # handed over to the caller, which raises it
            self._put(("error", e))
        else:
            self._put(("end", None))

    def _put(self, message: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the worker (it notices at its next hand-over) and wait for it briefly."""
        self._stop.set()
        self._thread.join(timeout=10.0)


def decode_videos(
    todo: list[tuple[str, Path, tuple[str, ...]]],
    config: ExtractConfig,
    nets: Backbones,
    timings: dict[str, float],
) -> Iterator[VideoStart | Snippets | VideoEnd | VideoFailed]:
    """The worker side: for each video a start, its batches of snippets, then an end (or a failure)."""
    for vid, path, streams in todo:
        try:
            info = probe_video(path)
            yield VideoStart(vid, path, streams, expected_frames(info.duration, config.fps) // config.stride)
            n_frames = yield from _decode_video(path, streams, config, nets, timings)
        except CotalError as e:
            yield VideoFailed(path, e)
            continue
        yield VideoEnd(n_frames)


def _decode_video(
    path: Path, streams: tuple[str, ...], config: ExtractConfig, nets: Backbones, timings: dict[str, float]
) -> Generator[Snippets, None, int]:
    """Decode one video into batches of snippets (and their flow); returns the number of frames."""
    want_rgb, want_flow = "rgb" in streams, "flow" in streams
    frames: list[np.ndarray] = []
    flows: list[np.ndarray] = []
    rgb_batch: list[np.ndarray] = []
    flow_batch: list[np.ndarray] = []
    prev_gray: np.ndarray | None = None
    n_frames = 0

    def batch() -> Snippets:
        snippets = Snippets(count=len(rgb_batch) or len(flow_batch))
        if rgb_batch:
            snippets.rgb = np.stack(rgb_batch)
        if flow_batch:
            t0 = time.perf_counter()
            if nets.flow_by_network:
                snippets.flow = flow_to_network_input(np.stack(flow_batch))
            else:
                snippets.flow_features = np.stack([nets.descriptor(f) for f in flow_batch])
                timings["descriptor"] += time.perf_counter() - t0
        rgb_batch.clear()
        flow_batch.clear()
        return snippets

    frame_iter = iter_frames(path, fps=config.fps, resize_short=config.short_side, crop=config.size)
    while True:
        t0 = time.perf_counter()
        item = next(frame_iter, None)
        timings["decode"] += time.perf_counter() - t0
        if item is None:
            break
        frame = item[1]
        n_frames += 1
        frames.append(frame)
        if want_flow:
            t0 = time.perf_counter()
            gray = to_gray(frame)
            if prev_gray is not None:
                flow = nets.flow(prev_gray, gray)  # type: ignore[misc]
                flows.append(flow)
                if len(flows) == 1:  # the first frame has no predecessor: reuse the flow to the second
                    flows.append(flow)
            prev_gray = gray
            timings["flow"] += time.perf_counter() - t0
        if len(frames) == config.stride and (not want_flow or len(flows) >= config.stride):
            if want_rgb:
                rgb_batch.append(np.stack(frames))
            if want_flow:
                flow_batch.append(np.stack(flows[: config.stride]))
                del flows[: config.stride]
            frames.clear()
            if max(len(rgb_batch), len(flow_batch)) >= config.batch:
                yield batch()
    if rgb_batch or flow_batch:
        yield batch()
    return n_frames
