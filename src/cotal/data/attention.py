"""Per-video temporal attention files (what a trained model exports and clustering reads).

Format: one ``.npz`` archive (no pickle). Keys are ``"<stream>/<video_id>"`` with (T,) float32 weights
(class-agnostic attention S, summing to 1 over time). The stream ``"all"`` means one weighting shared by
every feature stream (a joint-input model).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np

from cotal.errors import DataError
from cotal.utils.io import atomic_open

SHARED = "all"


def save_attention(path: str | os.PathLike, attention: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``{stream: {video_id: (T,) weights}}`` atomically."""
    arrays = {
        f"{stream}/{vid}": np.asarray(w, dtype=np.float32).reshape(-1)
        for stream, per_video in attention.items()
        for vid, w in per_video.items()
    }
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_attention(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read an attention archive into ``{stream: {video_id: (T,) float32}}``; bad files raise DataError."""
    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # np.load would guess "pickle" and say so
        raise DataError(f"{path}: not a readable attention .npz (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                stream, sep, vid = key.partition("/")
                if not sep or not vid:
                    raise DataError(f"{path}: key {key!r} is not '<stream>/<video_id>'")
                w = z[key]
                if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
                    raise DataError(f"{path}: attention of {vid!r} ({stream}) must be finite, >= 0 and 1-D")
                out.setdefault(stream, {})[vid] = w.astype(np.float32)
    except FileNotFoundError:
        raise DataError(f"{path}: attention file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable attention .npz ({e})") from None
    return out
