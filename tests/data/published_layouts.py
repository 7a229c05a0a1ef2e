"""Tiny published-layout fixtures (W-TALC joint, UM/BaS-Net) written into a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPS = 16 / 25  # seconds per snippet at the field's 25 fps / 16 frames


def object_array(items: list) -> np.ndarray:
    """1-D object array (np.array would stack equal-length lists into 2-D)."""
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


def write_wtalc(root: Path, *, num_videos: int = 6, dim: int = 4, seed: int = 0, name: str = "Thumos14reduced") -> dict:
    """Write ``<name>-I3D-JOINTFeatures.npy`` and ``<name>-Annotations/``; return the ground truth written.

    Video 0 is multi-label (two segments of different classes); the last two videos are in the test subset.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names, subsets, durations, segments, labels, feats = [], [], [], [], [], []
    for i in range(num_videos):
        T = int(rng.integers(10, 20))
        feats.append(rng.normal(size=(T, 2 * dim)).astype(np.float32))
        names.append(f"video_{i:03d}")
        subsets.append("test" if i >= num_videos - 2 else "validation")
        durations.append(T * SPS + 0.1)
        segs = [[1.0, 3.0]] + ([[4.0, 5.5]] if i == 0 else [])
        segments.append(segs)
        labels.append(["ClassA", "ClassB"] if i == 0 else ["ClassA" if i % 2 else "ClassB"])
    np.save(root / f"{name}-I3D-JOINTFeatures.npy", object_array(feats), allow_pickle=True)
    ann = root / f"{name}-Annotations"
    ann.mkdir()
    np.save(ann / "videoname.npy", np.array([n.encode() for n in names]))
    np.save(ann / "subset.npy", np.array([s.encode() for s in subsets]))
    np.save(ann / "duration.npy", np.asarray(durations)[:, None])
    np.save(ann / "classlist.npy", np.array([b"ClassA", b"ClassB"]))
    np.save(ann / "segments.npy", object_array(segments), allow_pickle=True)
    np.save(ann / "labels.npy", object_array(labels), allow_pickle=True)
    (ann / "Ambiguous_test.txt").write_text(f"{names[-1]} Ambiguous 0.5 0.9\n")
    return {
        "names": names,
        "subsets": subsets,
        "durations": durations,
        "segments": segments,
        "labels": labels,
        "features": feats,
    }


def write_um(root: Path, *, dim: int = 4, seed: int = 0, with_splits: bool = True) -> dict:
    """Write the UM/BaS-Net layout: 3 train + 2 test videos, and one annotated test video without features."""
    rng = np.random.default_rng(seed)
    db, feats = {}, {}
    for split, ids in (
        ("train", ["video_validation_1", "video_validation_2", "video_validation_3"]),
        ("test", ["video_test_1", "video_test_2"]),
    ):
        for vid in ids:
            T = int(rng.integers(10, 20))
            feats[vid] = {}
            for stream in ("rgb", "flow"):
                x = rng.normal(size=(T, dim)).astype(np.float32)
                (root / "features" / split / stream).mkdir(parents=True, exist_ok=True)
                np.save(root / "features" / split / stream / f"{vid}.npy", x)
                feats[vid][stream] = x
            db[vid] = {
                "subset": "validation" if split == "train" else "test",
                "duration": T * SPS,
                "annotations": [{"segment": [0.5, 2.0], "label": "ClassA"}],
            }
        if with_splits:
            (root / f"split_{split}.txt").write_text("\n".join(ids) + "\n")
    db["video_test_0000270"] = {"subset": "test", "duration": 100.0, "annotations": []}
    (root / "gt.json").write_text(json.dumps({"version": "THUMOS14", "database": db}))
    (root / "fps_dict.json").write_text(json.dumps(dict.fromkeys(db, 30.0)))
    return {"database": db, "features": feats}
