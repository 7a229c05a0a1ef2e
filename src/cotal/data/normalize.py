"""Input standardisation: per-stream, per-dimension statistics of the training videos (docs/method.md eq. 2, D1).

Features that are not I3D-scaled (sensor statistics, other backbones) can have dimensions whose means and
spreads differ by orders of magnitude; the model's first convolution and the cosine geometry of the clustering
descriptors then see only the largest dimensions. ``zscore`` maps every dimension of a stream to mean 0 and
standard deviation 1 over all snippets of the training videos::

    x'[t, d] = (x[t, d] - mean[d]) / max(std[d], eps * max_d std[d])

The statistics are computed once per run from the training videos only (never test videos) and are part of
the model's input contract: they are stored inside every trained model (so ``cotal detect`` and exported
models apply exactly the same map) and in ``RUN/normalization.npz``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np

from cotal.data.config import NormalizeMethod
from cotal.data.dataset import FeatureDataset
from cotal.errors import ConfigError, DataError
from cotal.utils.io import atomic_open

METHODS: tuple[str, ...] = get_args(NormalizeMethod)
# A dimension that is (almost) constant over the training snippets is not blown up to unit variance.
_REL_EPS = 1e-3


@dataclass(frozen=True)
class StreamStats:
    """Affine map of one stream: ``x' = (x - shift) * scale``; shift, scale: (D,) float32."""

    shift: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(T, D) -> (T, D) float32."""
        return (np.asarray(x, dtype=np.float32) - self.shift) * self.scale


@dataclass(frozen=True)
class Normalization:
    """The input map of a run: ``method`` and, for ``zscore``, the statistics of each stream."""

    method: str
    streams: Mapping[str, StreamStats]

    def apply(self, x: np.ndarray, stream: str) -> np.ndarray:
        """Standardise (T, D) features of ``stream`` (identity for ``none`` or an unknown stream)."""
        stats = self.streams.get(stream)
        return np.asarray(x, dtype=np.float32) if stats is None else stats.apply(x)

    def affine(self, streams: Sequence[str], dims: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(shift, scale) of a model whose input concatenates ``streams`` (dims ``dims``): two (sum D,) arrays."""
        shifts, scales = [], []
        for s, d in zip(streams, dims, strict=True):
            stats = self.streams.get(s)
            shifts.append(np.zeros(d, np.float32) if stats is None else stats.shift)
            scales.append(np.ones(d, np.float32) if stats is None else stats.scale)
        return np.concatenate(shifts), np.concatenate(scales)


def fit_normalization(
    dataset: FeatureDataset, video_ids: Sequence[str], streams: Sequence[str], method: str
) -> Normalization:
    """Statistics of ``streams`` over every snippet of ``video_ids`` (the training videos).

    Accumulated in float64 one video at a time (memory stays at one video's features).

    Raises:
        ConfigError: unknown method.
        DataError: no snippets, or non-finite features.
    """
    if method not in METHODS:
        raise ConfigError(f"data.normalize must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "none":
        return Normalization("none", {})
    out = {}
    for stream in streams:
        total, total_sq, n = 0.0, 0.0, 0
        for vid in video_ids:
            x = np.asarray(dataset.features(vid, stream), dtype=np.float64)
            total = total + x.sum(axis=0)
            total_sq = total_sq + np.square(x).sum(axis=0)
            n += x.shape[0]
        if n == 0:
            raise DataError(f"{dataset.root}: no {stream} snippets in the training videos to standardise with")
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - np.square(mean), 0.0))
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise DataError(f"{dataset.root}: {stream} features overflow when standardising (values too large)")
        floor = max(float(std.max()) * _REL_EPS, 1e-12)
        out[stream] = StreamStats(mean.astype(np.float32), (1.0 / np.maximum(std, floor)).astype(np.float32))
    return Normalization(method, out)


def save_normalization(path: str | os.PathLike, norm: Normalization) -> None:
    """Write atomically as ``.npz`` (keys ``method``, ``<stream>/shift``, ``<stream>/scale``; no pickle)."""
    arrays = {"method": np.array(norm.method)}
    for stream, stats in norm.streams.items():
        arrays[f"{stream}/shift"] = stats.shift
        arrays[f"{stream}/scale"] = stats.scale
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_normalization(path: str | os.PathLike) -> Normalization:
    """Read a file written by :func:`save_normalization`; a bad file raises DataError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            method = str(z["method"])
            streams = {}
            for key in z.files:
                stream, _, part = key.partition("/")
                if part == "shift":
                    streams[stream] = StreamStats(z[key].astype(np.float32), z[f"{stream}/scale"].astype(np.float32))
    except FileNotFoundError:
        raise DataError(f"{path}: normalization file not found") from None
    except (KeyError, zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable normalization .npz ({e})") from None
    if method not in METHODS:
        raise DataError(f"{path}: unknown normalization method {method!r}")
    return Normalization(method, streams)
