"""The ``motions`` dataset: untrimmed sequences stitched from real smartwatch recordings (``cotal data motions``).

Source: BasicMotions, from the UEA multivariate time-series classification archive, as shipped inside the sktime
package (``pip install 'cotal[motions]'``; the files are read by path, sktime is never imported). A smart watch
recorded a 3-axis accelerometer and a 3-axis gyroscope at 10 Hz for 10 s while one of four students walked, ran,
played badminton or stood; 40 recordings in the archive's TRAIN file, 40 in TEST. Walking, Running and Badminton
are the actions, Standing the background.

Each action recording makes ``copies`` sequences: background, then 1-3 pieces of that ONE recording, each followed
by background, so a sequence has one action class, like most THUMOS14 videos. The archive's TRAIN recordings make
the "train" subset, TEST the "test" subset. The background pieces come from random Standing recordings
(``background="mixed"``), or all from one Standing recording per sequence (``background="one"``): then a sequence's
background carries that recording's signature (its wearer's wrist orientation, seen by the accelerometer as the
direction of gravity), the way a real recording's background is its own. Streams (fps 10, stride 5: one snippet
per 0.5 s):

- ``rgb/<vid>.npy``: per-snippet statistics of the raw signal over a 1 s window centred on the snippet (per channel:
  mean, std, min, max, mean |diff|, the magnitudes of spectrum bins 1-5), (T, 10 C) float32 (C = 6 channels: 60-d),
  deliberately not standardised;
- ``flow/<vid>.npy``: the same statistics of the signal's derivative (per second).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from cotal.errors import ConfigError, DataError
from cotal.utils.deps import require_dir
from cotal.utils.io import atomic_open, read_text, verify_sha256, write_npy, write_yaml
from cotal.utils.outdir import check_target, staged_folder

FPS = 10  # samples per second of the recordings
STRIDE = 5  # samples per snippet
WINDOW = 10  # samples the statistics of a snippet look at
ACTIONS = ("Walking", "Running", "Badminton")
BACKGROUND = "Standing"
SUBSETS = {"train": "BasicMotions_TRAIN.ts", "test": "BasicMotions_TEST.ts"}
# The archive's files: the dataset a seed makes is the same wherever the recipe runs.
SHA256 = {
    "BasicMotions_TRAIN.ts": "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    "BasicMotions_TEST.ts": "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
}
VERSION = "basicmotions-stitched-v1"  # the "version" of annotations.json
PACKAGE_DATA = Path("datasets", "data", "BasicMotions")  # inside the sktime package
BackgroundMode = Literal["mixed", "one"]


@dataclass(frozen=True)
class MotionsReport:
    """What :func:`make_motions` wrote.

    Attributes:
        out: the native dataset folder.
        videos: sequences written per subset (``{"train": n, "test": n}``).
        dim: feature dimension of each stream.
    """

    out: Path
    videos: dict[str, int]
    dim: int


def basicmotions_dir() -> Path:
    """The folder of BasicMotions ``.ts`` files inside the installed sktime package.

    Raises:
        ConfigError: sktime is not installed (names the ``motions`` extra), or it ships no BasicMotions files.
    """
    folder = require_dir("sktime", "the motions dataset") / PACKAGE_DATA
    if not all((folder / name).is_file() for name in SUBSETS.values()):
        raise ConfigError(f"{folder}: the installed sktime ships no BasicMotions .ts files; pass --source DIR")
    return folder


def read_ts(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str]]:
    """Read a multivariate ``.ts`` file of the UEA/UCR archive (series of equal-length channels, no missing values).

    Returns:
        the recordings, each (L, C) float64 (L samples of C channels, C the same for all), and their class labels.
    Raises:
        DataError: the file is missing or malformed (names the file and line).
    """
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower().startswith("@data")
            continue
        *channels, label = line.split(":")
        try:
            values = [[float(v) for v in c.split(",")] for c in channels]
        except ValueError:
            raise DataError(
                f"{path}: line {number}: expected channels of numbers separated by ':', then a label"
            ) from None
        if not values or len({len(v) for v in values}) > 1:
            raise DataError(f"{path}: line {number}: no channels, or channels of different lengths")
        if series and len(values) != series[0].shape[1]:
            raise DataError(
                f"{path}: line {number}: {len(values)} channels, the first recording has {series[0].shape[1]}"
            )
        series.append(np.array(values).T)
        labels.append(label.strip())
    if not series:
        raise DataError(f"{path}: no recordings (a .ts file lists them after an @data line)")
    return series, labels


def snippet_statistics(signal: np.ndarray) -> np.ndarray:
    """Statistics of each snippet of ``signal`` (L, C) over a ``WINDOW``-sample window centred on it.

    Returns:
        (L // STRIDE, 10 C) float32: per channel the mean, std, min, max, mean absolute difference, then the
        magnitudes of spectrum bins 1-5 (bin-major).
    """
    rows = []
    for i in range(len(signal) // STRIDE):
        centre = i * STRIDE + STRIDE // 2
        w = signal[max(0, centre - WINDOW // 2) : centre + WINDOW // 2]  # at least 5 samples: the ends are cut
        spectrum = np.abs(np.fft.rfft(w - w.mean(0), n=WINDOW, axis=0))[1:6]
        moments = [w.mean(0), w.std(0), w.min(0), w.max(0), np.abs(np.diff(w, axis=0)).mean(0)]
        rows.append(np.concatenate([*moments, spectrum.ravel()]))
    return np.asarray(rows, dtype=np.float32)


def _piece(x: np.ndarray, rng: np.random.Generator, shortest: float, longest: float) -> np.ndarray:
    """A random contiguous piece of ``x`` lasting between ``shortest`` and ``longest`` seconds (less if ``x`` is
    shorter)."""
    n = min(int(rng.uniform(shortest, longest) * FPS), len(x) - 1)
    start = int(rng.integers(0, len(x) - n))
    return x[start : start + n]


def stitch(
    recording: np.ndarray,
    label: str,
    background: list[np.ndarray],
    rng: np.random.Generator,
    mode: BackgroundMode = "mixed",
) -> tuple[np.ndarray, list[dict]]:
    """One sequence: a background piece, then 1-3 times (a 2-8 s piece of ``recording``, a 2-9 s background piece);
    each background piece comes from a random ``background`` recording ("mixed") or all from one ("one").

    Returns:
        the signal (L, C) and its annotations (``{"segment": [start, end], "label"}``, seconds).
    """
    own = background[int(rng.integers(len(background)))] if mode == "one" else None

    def background_piece() -> np.ndarray:
        return _piece(own if own is not None else background[int(rng.integers(len(background)))], rng, 2, 9)

    parts, annotations, t = [], [], 0
    for _ in range(int(rng.integers(1, 4))):
        parts.append(background_piece())
        t += len(parts[-1])
        action = _piece(recording, rng, 2, 8)
        annotations.append({"segment": [round(t / FPS, 3), round((t + len(action)) / FPS, 3)], "label": label})
        parts.append(action)
        t += len(action)
    parts.append(background_piece())
    return np.concatenate(parts), annotations


def _sequences(
    path: Path, subset: str, copies: int, rng: np.random.Generator, mode: BackgroundMode
) -> Iterator[tuple[str, np.ndarray, list[dict]]]:
    """The sequences stitched from the recordings of one ``.ts`` file: (video id, signal (L, C), annotations)."""
    series, labels = read_ts(path)
    background = [x for x, label in zip(series, labels, strict=True) if label == BACKGROUND]
    if not background:
        raise DataError(f"{path}: no {BACKGROUND!r} recordings, which make the background")
    if not set(labels) & set(ACTIONS):
        raise DataError(f"{path}: no recordings of the actions {', '.join(ACTIONS)}")
    for r, (x, label) in enumerate(zip(series, labels, strict=True)):
        if label in ACTIONS:
            for copy in range(copies):
                yield (f"motions_{subset}_{r:02d}_{copy}", *stitch(x, label, background, rng, mode))


def make_motions(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    copies: int = 3,
    background: BackgroundMode = "mixed",
    source: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> MotionsReport:
    """Write the ``motions`` dataset (native layout, rgb + flow) to ``out``; the same seed writes the same bytes.

    Args:
        out: destination folder; must be absent or empty unless ``overwrite``.
        seed: seed of the stitching.
        copies: sequences made from each action recording.
        background: "mixed" (each background piece from a random Standing recording) or "one" (one Standing
            recording per sequence).
        source: folder holding ``BasicMotions_TRAIN.ts`` and ``BasicMotions_TEST.ts``; default the sktime package's
            copy of the archive's files (checked by sha256).
        overwrite: replace a non-empty ``out`` that cotal made (only once the new dataset is complete).
    Raises:
        ConfigError: ``copies`` < 1, sktime is missing (without ``source``), or ``out`` may not be written.
        DataError: a source file is missing or malformed, lacks background or action recordings, has another
            number of channels than the other file, or differs from the archive's (sktime's copy only).
    """
    if copies < 1:
        raise ConfigError(f"copies must be at least 1, got {copies}")
    if background not in get_args(BackgroundMode):
        raise ConfigError(f"background must be one of {', '.join(get_args(BackgroundMode))}, got {background!r}")
    folder = Path(source) if source is not None else basicmotions_dir()
    if source is None:
        for name in SUBSETS.values():
            verify_sha256(folder / name, SHA256[name])
    target = check_target(out, "dataset", inputs=[folder], overwrite=overwrite)
    rng = np.random.default_rng(seed)
    database: dict[str, dict] = {}
    dims: set[int] = set()
    with staged_folder(target, "dataset") as tmp:
        for subset, name in SUBSETS.items():
            for vid, signal, annotations in _sequences(folder / name, subset, copies, rng, background):
                rgb = snippet_statistics(signal)
                flow = snippet_statistics(np.diff(signal, axis=0, prepend=signal[:1]) * FPS)
                write_npy(tmp / "rgb" / f"{vid}.npy", rgb)
                write_npy(tmp / "flow" / f"{vid}.npy", flow)
                database[vid] = {"subset": subset, "duration": round(len(signal) / FPS, 3), "annotations": annotations}
                dims.add(rgb.shape[1])
            if len(dims) > 1:
                raise DataError(f"{folder / name}: another number of channels than {SUBSETS['train']}")
        taxonomy = [{"nodeName": c} for c in ACTIONS]
        # json.dumps with indent 1 and no final newline, and a dataset.yaml of four keys (no name): the exact bytes
        # of the dataset the suite's published figures were computed on
        with atomic_open(tmp / "annotations.json") as fh:
            fh.write(json.dumps({"version": VERSION, "taxonomy": taxonomy, "database": database}, indent=1))
        write_yaml(tmp / "dataset.yaml", {"fps": FPS, "stride": STRIDE, "train_subset": "train", "test_subset": "test"})
    videos = {s: sum(v["subset"] == s for v in database.values()) for s in SUBSETS}
    return MotionsReport(out=target, videos=videos, dim=dims.pop())
