"""Snippet weights that pool a video's features into its descriptor (docs/method.md eq. 3), and their files.

Two sources give such weights: round 0's label-free weights (:func:`cotal.cluster.descriptors.round0_weights`)
and, in later rounds, the class-agnostic attention S of the previous round's models, one per stream or fused
across streams by :func:`geometric_attention`. File format: one ``.npz`` archive (no pickle) with keys
``"<stream>/<video_id>"`` holding (T,) float32 weights.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cotal.errors import DataError
from cotal.model.outputs import VideoOutput
from cotal.utils.io import atomic_open


@dataclass(frozen=True)
class SnippetWeights:
    """(T,) non-negative weights for each stream and video.

    Attributes:
        by_stream: stream -> video id -> (T,) float32 weights (their sum need not be 1: pooling renormalises).
    """

    by_stream: Mapping[str, Mapping[str, np.ndarray]]

    @classmethod
    def shared(cls, weights: Mapping[str, np.ndarray], streams: Sequence[str]) -> SnippetWeights:
        """The same ``{video_id: (T,)}`` weights for every stream of ``streams``."""
        return cls({s: weights for s in streams})

    def of(self, stream: str, video_id: str) -> np.ndarray:
        """The (T,) weights of one video's stream; DataError when absent."""
        table = self.by_stream.get(stream)
        if table is None:
            raise DataError(f"snippet weights have no stream {stream!r} (they have {', '.join(self.by_stream)})")
        if video_id not in table:
            raise DataError(f"snippet weights ({stream}) have no video {video_id!r}")
        return table[video_id]

    def save(self, path: str | os.PathLike) -> None:
        """Write the weights atomically as ``.npz`` (see the module docstring)."""
        arrays = {
            f"{stream}/{vid}": np.asarray(w, dtype=np.float32).reshape(-1)
            for stream, per_video in self.by_stream.items()
            for vid, w in per_video.items()
        }
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SnippetWeights:
        """Read a file written by :meth:`save`; a bad file raises DataError naming it."""
        if os.path.isfile(path) and not zipfile.is_zipfile(path):  # np.load would guess "pickle" and say so
            raise DataError(f"{path}: not a readable snippet-weights .npz (not a zip archive)")
        out: dict[str, dict[str, np.ndarray]] = {}
        try:
            with np.load(path, allow_pickle=False) as z:
                for key in z.files:
                    stream, sep, vid = key.partition("/")
                    if not sep or not vid:
                        raise DataError(f"{path}: key {key!r} is not '<stream>/<video_id>'")
                    w = z[key]
                    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
                        raise DataError(f"{path}: weights of {vid!r} ({stream}) must be finite, >= 0 and 1-D")
                    out.setdefault(stream, {})[vid] = w.astype(np.float32)
        except FileNotFoundError:
            raise DataError(f"{path}: snippet-weights file not found") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise DataError(f"{path}: not a readable snippet-weights .npz ({e})") from None
        return cls(out)


def geometric_attention(attentions: Sequence[np.ndarray]) -> np.ndarray:
    """Normalised geometric mean of K attention curves over the same T snippets: (K x (T,)) -> (T,) summing to 1.

    High only where every stream attends, so one stream's attention to the scene is damped by the other's
    (docs/method.md D3).
    """
    log = np.mean([np.log(np.maximum(a.astype(np.float64), 1e-12)) for a in attentions], axis=0)
    w = np.exp(log - log.max())
    return (w / w.sum()).astype(np.float32)


def attention_weights(
    outputs: Mapping[str, Mapping[str, VideoOutput]], mode: str, video_ids: Sequence[str]
) -> SnippetWeights:
    """Pooling weights of the next round from a round's outputs (stream -> video -> :class:`VideoOutput`).

    ``mode`` "per_stream" pools each stream with its own model's S (the paper); "geometric" pools every stream
    with the :func:`geometric_attention` of the streams' S (a single stream: its own S either way).
    """
    if mode == "geometric" and len(outputs) > 1:
        fused = {v: geometric_attention([per_video[v].attention for per_video in outputs.values()]) for v in video_ids}
        return SnippetWeights.shared(fused, list(outputs))
    return SnippetWeights({s: {v: per_video[v].attention for v in video_ids} for s, per_video in outputs.items()})


def consensus_attention(weights: SnippetWeights, video_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """One (T,) curve per video: the streams' weights where they agree, else their :func:`geometric_attention`."""
    tables = list(weights.by_stream.values())
    out = {}
    for v in video_ids:
        curves = [t[v] for t in tables]
        same = all(np.array_equal(c, curves[0]) for c in curves[1:])
        out[v] = curves[0] if same else geometric_attention(curves)
    return out
