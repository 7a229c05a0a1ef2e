"""Synthetic untrimmed videos whose action classes are motion patterns, for end-to-end runs from pixels.

Each video has a textured background that pans slowly (camera motion) and one action class; during
each action instance an object (random shape and colour, so appearance says little about the class)
moves with the class's motion pattern -- translate in a direction, orbit clockwise or anticlockwise,
oscillate, pulse, spin, zigzag, bounce -- and stretches of background separate the instances. The
ground truth is written ActivityNet-style, so ``cotal extract`` -> ``cotal fit`` -> ``cotal eval`` run on it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from cotal.errors import ConfigError
from cotal.synth.output import available_memory
from cotal.utils.deps import require
from cotal.utils.io import atomic_open, write_json

# Limits of what is rendered: the side of a frame (pixels), the frame rate and a video's length (seconds).
MAX_SIDE, MAX_FPS, MAX_DURATION = 4096, 240.0, 3600.0
# Memory the plan of one video (or class) takes before anything is rendered (seed sequences, ground truth).
BYTES_PER_VIDEO = 4096


TRAIN_SUBSET, TEST_SUBSET = "validation", "test"  # THUMOS14 naming, the DatasetMeta defaults


@dataclass(frozen=True)
class MotionPattern:
    """One action class: ``place(s, length, rng_params)`` -> (x, y, scale, angle) at ``s`` s into the action.

    x, y are in units of the frame height around the frame centre; angle in radians.
    """

    name: str
    place: Callable[[float, float, np.ndarray], tuple[float, float, float, float]]


def _translate(dx: float, dy: float) -> Callable[[float, float, np.ndarray], tuple[float, float, float, float]]:
    def place(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
        u = (s / length - 0.5) * 0.9
        return dx * u + p[0] * 0.2 * dy, dy * u + p[0] * 0.2 * dx, 1.0, 0.0

    return place


def _orbit(direction: float) -> Callable[[float, float, np.ndarray], tuple[float, float, float, float]]:
    def place(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
        a = direction * 2 * math.pi * s / (1.6 * p[1]) + p[2] * 2 * math.pi
        return 0.28 * math.cos(a), 0.28 * math.sin(a), 1.0, a

    return place


def _oscillate(horizontal: bool) -> Callable[[float, float, np.ndarray], tuple[float, float, float, float]]:
    def place(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
        d = 0.3 * math.sin(2 * math.pi * s / (0.8 * p[1]))
        off = p[0] * 0.15
        return (d, off, 1.0, 0.0) if horizontal else (off, d, 1.0, 0.0)

    return place


def _pulse(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
    return p[0] * 0.2, -p[0] * 0.1, 1.0 + 0.55 * math.sin(2 * math.pi * s / (0.9 * p[1])), 0.0


def _spin(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
    return p[0] * 0.2, p[0] * 0.1, 1.3, 2 * math.pi * s / (1.0 * p[1])


def _zigzag(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
    u = (s / length - 0.5) * 0.9
    tri = 2 * abs((s / (0.6 * p[1])) % 1.0 - 0.5) - 0.5
    return u, 0.4 * tri, 1.0, 0.0


def _bounce(s: float, length: float, p: np.ndarray) -> tuple[float, float, float, float]:
    h = abs(math.sin(math.pi * s / (0.7 * p[1])))
    return p[0] * 0.25, 0.3 - 0.6 * h, 1.0, 0.0


_BASE_PATTERNS: tuple[MotionPattern, ...] = (
    MotionPattern("translate_right", _translate(1.0, 0.0)),
    MotionPattern("orbit_clockwise", _orbit(1.0)),
    MotionPattern("oscillate_horizontal", _oscillate(True)),
    MotionPattern("pulse", _pulse),
    MotionPattern("translate_up", _translate(0.0, -1.0)),
    MotionPattern("orbit_anticlockwise", _orbit(-1.0)),
    MotionPattern("oscillate_vertical", _oscillate(False)),
    MotionPattern("spin", _spin),
    MotionPattern("translate_left", _translate(-1.0, 0.0)),
    MotionPattern("zigzag", _zigzag),
    MotionPattern("translate_down", _translate(0.0, 1.0)),
    MotionPattern("bounce", _bounce),
)


def motion_patterns(num_classes: int) -> list[MotionPattern]:
    """The first ``num_classes`` patterns; beyond 12, the list repeats at double speed, then triple, ..."""
    out = []
    for k in range(num_classes):
        base = _BASE_PATTERNS[k % len(_BASE_PATTERNS)]
        speed = 1 + k // len(_BASE_PATTERNS)
        if speed == 1:
            out.append(base)
            continue

        def place(s: float, length: float, p: np.ndarray, f=base.place, m=speed) -> tuple[float, float, float, float]:
            return f(s * m, length * m, p)

        out.append(MotionPattern(f"{base.name}_x{speed}", place))
    return out


def render_video_dataset(
    out_dir: str | os.PathLike,
    *,
    num_videos: int,
    num_classes: int,
    seed: int,
    width: int = 160,
    height: int = 120,
    fps: float = 25.0,
    min_duration: float = 8.0,
    max_duration: float = 20.0,
) -> Path:
    """Render ``num_videos`` untrimmed mp4 videos (libx264) with ground truth.

    Writes ``out_dir/videos/<vid>.mp4`` and ``out_dir/annotations.json`` (ActivityNet style; subsets
    "validation" for training and "test", about a quarter of the videos, as in THUMOS14; the class
    names are the motion patterns). Classes are balanced over videos; each video holds 1-3 instances
    of its class. The output is the same for the same arguments.

    Returns:
        ``out_dir`` as a Path.
    Raises:
        ConfigError: invalid sizes or durations.
    """
    if num_videos < 1 or num_classes < 1:
        raise ConfigError(f"need num_videos >= 1 and num_classes >= 1, got {num_videos} and {num_classes}")
    if not (32 <= width <= MAX_SIDE and 32 <= height <= MAX_SIDE) or width % 2 or height % 2:
        raise ConfigError(f"width and height must be even and in [32, {MAX_SIDE}] (yuv420p), got {width}x{height}")
    if not (0 < fps <= MAX_FPS and 1.0 <= min_duration <= max_duration <= MAX_DURATION):
        raise ConfigError(
            f"need 0 < fps <= {MAX_FPS} and 1 <= min_duration <= max_duration <= {MAX_DURATION}, got {fps}, "
            f"{min_duration}, {max_duration}"
        )
    need = (num_videos + num_classes) * BYTES_PER_VIDEO
    if need > available_memory():
        raise ConfigError(
            f"{num_videos} videos and {num_classes} classes need about {need / 1e9:.3g} GB of memory to plan; "
            f"this machine has {available_memory() / 1e9:.3g} GB available"
        )
    for module in ("av", "cv2"):  # the sizes are checked first: a request no machine holds never needs the extra
        require(module, "rendering videos")
    out = Path(out_dir)
    patterns = motion_patterns(num_classes)
    root = np.random.SeedSequence(seed)
    split_rng = np.random.default_rng(root.spawn(1)[0])
    classes = split_rng.permutation(np.arange(num_videos) % num_classes)
    n_test = int(round(num_videos * 0.25)) if num_videos >= 4 else (1 if num_videos >= 2 else 0)
    test = set(split_rng.permutation(num_videos)[:n_test].tolist())
    database = {}
    for i, seq in enumerate(root.spawn(num_videos + 1)[1:]):
        vid = f"synth_{i:04d}"
        rng = np.random.default_rng(seq)
        duration, segments = _timeline(rng, min_duration, max_duration, fps)
        _render(out / "videos" / f"{vid}.mp4", rng, patterns[int(classes[i])], segments, duration, width, height, fps)
        database[vid] = {
            "subset": TEST_SUBSET if i in test else TRAIN_SUBSET,
            "duration": duration,
            "annotations": [{"segment": [s, e], "label": patterns[int(classes[i])].name} for s, e in segments],
        }
    write_json(
        out / "annotations.json",
        {"version": "cotal-synth-videos", "taxonomy": [p.name for p in patterns], "database": database},
    )
    return out


def _timeline(rng: np.random.Generator, lo: float, hi: float, fps: float) -> tuple[float, list[tuple[float, float]]]:
    """Duration (whole frames) and 1-3 action segments separated by background, on frame boundaries."""
    n_frames = int(round(rng.uniform(lo, hi) * fps))
    duration = n_frames / fps
    n = int(rng.integers(1, max(1, min(3, int(duration // 5))) + 1))
    slot = duration / n
    segments = []
    for j in range(n):
        length = rng.uniform(0.4, 0.7) * slot
        start = j * slot + rng.uniform(0.15, 0.85) * (slot - length)
        s, e = round(start * fps) / fps, round((start + length) * fps) / fps
        segments.append((s, e))
    return duration, segments


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth coloured texture (low-pass noise + a few soft stripes), (h, w, 3) uint8."""
    cv2 = require("cv2", "rendering videos")
    noise = rng.normal(size=(h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    tex = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.08)
    stripes = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy))[..., None]
    base = rng.uniform(60, 190, size=3).astype(np.float32)
    img = base + 25 * tex + 20 * stripes
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_polygon(kind: int, radius: float) -> np.ndarray:
    """(K, 2) vertices around the origin: square, triangle, hexagon or a bar."""
    if kind == 3:
        return np.array([[-1.4, -0.35], [1.4, -0.35], [1.4, 0.35], [-1.4, 0.35]]) * radius
    sides = (4, 3, 6)[kind]
    a = np.arange(sides) * 2 * np.pi / sides + np.pi / sides
    return np.stack([np.cos(a), np.sin(a)], axis=1) * radius


def _render(
    path: Path,
    rng: np.random.Generator,
    pattern: MotionPattern,
    segments: list[tuple[float, float]],
    duration: float,
    width: int,
    height: int,
    fps: float,
) -> None:
    av, cv2 = require("av", "rendering videos"), require("cv2", "rendering videos")
    margin = int(0.25 * height)
    bg = _background(rng, height + 2 * margin, width + 2 * margin)
    pan = rng.uniform(-1, 1, size=2) * 0.35  # px / frame, bounces inside the margin
    # object colour: far from the background's mean colour so the object is always visible
    mean = bg.reshape(-1, 3).mean(axis=0)
    shapes = [(int(rng.integers(0, 4)), np.clip(255 - mean + rng.uniform(-40, 40, size=3), 0, 255)) for _ in segments]
    params = [np.array([rng.uniform(-1, 1), rng.uniform(0.85, 1.15), rng.uniform(0, 1)]) for _ in segments]
    n_frames = int(round(duration * fps))
    offset = np.array([margin, margin], dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh, av.open(fh, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        stream.codec_context.thread_count = 1  # multi-threaded x264 output varies from run to run
        for f in range(n_frames):
            offset += pan
            for d in range(2):
                if not 0 <= offset[d] <= 2 * margin:
                    pan[d] = -pan[d]
                    offset[d] = np.clip(offset[d], 0, 2 * margin)
            ox, oy = int(offset[0]), int(offset[1])
            img = bg[oy : oy + height, ox : ox + width].copy()
            t = f / fps
            for (s, e), (kind, colour), p in zip(segments, shapes, params, strict=True):
                if s <= t < e:
                    x, y, scale, angle = pattern.place(t - s, e - s, p)
                    poly = _shape_polygon(kind, 0.09 * height * scale)
                    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
                    pts = poly @ rot.T + np.array([width / 2 + x * height, height / 2 + y * height])
                    poly_px = [np.round(pts * 16).astype(np.int32)]
                    cv2.fillPoly(img, poly_px, colour.tolist(), cv2.LINE_AA, shift=4)
                    cv2.polylines(img, poly_px, True, (15, 15, 15), 1, cv2.LINE_AA, shift=4)
                    # a darker notch on one side makes rotation visible
                    tip = np.round((pts[0] * 0.6 + pts.mean(axis=0) * 0.4) * 16).astype(np.int32)
                    cv2.circle(
                        img, tuple(tip.tolist()), int(0.025 * height * scale * 16), (20, 20, 20), -1, cv2.LINE_AA, 4
                    )
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
