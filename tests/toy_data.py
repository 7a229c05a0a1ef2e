"""A tiny native-layout dataset for tests (importable as ``toy_data`` from any test folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cotal.data.dataset import DatasetMeta
from cotal.utils.io import write_json, write_npy


def write_toy_dataset(
    root: Path,
    *,
    num_videos: int = 12,
    num_classes: int = 3,
    dim: int = 8,
    min_len: int = 20,
    max_len: int = 40,
    streams: tuple[str, ...] = ("rgb", "flow"),
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Path:
    """Write a small, easy dataset: each video has one class whose action snippets sit on a class direction.

    Videos are assigned classes round-robin; one action segment per video covers the middle third.
    """
    rng = np.random.default_rng(seed)
    meta = DatasetMeta(fps=25.0, stride=16.0, train_subset="validation", test_subset="test", name="toy")
    meta.save(root / "dataset.yaml")
    sps = meta.stride / meta.fps
    centres = rng.normal(size=(num_classes, dim)) * 3
    db = {}
    n_test = max(1, int(round(num_videos * test_fraction)))
    for i in range(num_videos):
        vid = f"video_{i:04d}"
        c = i % num_classes
        T = int(rng.integers(min_len, max_len + 1))
        s, e = T // 3, 2 * T // 3
        for stream in streams:
            x = rng.normal(scale=0.5, size=(T, dim)).astype(np.float32)
            x[s:e] += centres[c].astype(np.float32)
            write_npy(root / stream / f"{vid}.npy", x)
        db[vid] = {
            "subset": "test" if i >= num_videos - n_test else "validation",
            "duration": T * sps,
            "annotations": [{"segment": [s * sps, e * sps], "label": f"class_{c}"}],
        }
    write_json(root / "annotations.json", {"database": db})
    return root
