"""``dataset_info``: summary statistics of a native-layout dataset (headers only; no feature data is read)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cotal.data.dataset import FeatureDataset
from cotal.data.timing import merge_intervals


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "median": 0.0, "mean": 0.0, "max": 0.0}
    v = np.asarray(values, dtype=np.float64)
    return {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())}


def dataset_info(root: str | os.PathLike) -> dict[str, Any]:
    """Summarise a dataset.

    Returns:
        A JSON-ready dict: ``videos`` per subset, ``snippets`` (T min/median/mean/max over videos with features,
        ``total``), ``feature_dims`` (stream -> sorted distinct D), ``classes`` (``count``, ``instances`` per
        class), ``segments`` (``count``, ``length`` stats in seconds, ``coverage`` stats: per annotated video, the
        fraction of its duration inside the union of its segments), ``multi_label_videos``.
    Raises:
        DataError: dataset.yaml or annotations.json cannot be loaded (``cotal data check`` lists all problems).
    """
    ds = FeatureDataset(root)
    ann = ds.annotations
    lengths, dims = [], {s: set() for s in ds.streams}
    for vid in ds.video_ids():
        for i, stream in enumerate(ds.streams):
            if ds.feature_path(vid, stream).is_file():
                t, d = ds.feature_shape(vid, stream)
                dims[stream].add(d)
                if i == 0:
                    lengths.append(t)
    seg_lengths, coverage = [], []
    instances = dict.fromkeys(ann.classes, 0)
    for v in ann.values():
        for lab in v.labels:
            instances[lab] += 1
        if len(v.segments):
            seg_lengths += (v.segments[:, 1] - v.segments[:, 0]).tolist()
            union = merge_intervals(np.clip(v.segments, 0.0, v.duration))
            coverage.append(float((union[:, 1] - union[:, 0]).sum() / v.duration))
    return {
        "name": ds.meta.name,
        "root": str(ds.root),
        "fps": float(ds.meta.fps),
        "stride": float(ds.meta.stride),
        "train_subset": ds.meta.train_subset,
        "test_subset": ds.meta.test_subset,
        "videos": {subset: len(ann.ids(subset)) for subset in ann.subsets},
        "snippets": {**_stats(lengths), "total": int(sum(lengths))},
        "feature_dims": {s: sorted(d) for s, d in dims.items()},
        "classes": {"count": len(instances), "instances": instances},
        "segments": {"count": len(seg_lengths), "length": _stats(seg_lengths), "coverage": _stats(coverage)},
        "multi_label_videos": sum(len(v.video_labels) > 1 for v in ann.values()),
    }


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`dataset_info`'s dict."""
    sn, seg = info["snippets"], info["segments"]
    lines = [
        f"dataset {info['name'] or '(unnamed)'} at {info['root']}: fps {info['fps']:g}, stride {info['stride']:g}, "
        f"train subset {info['train_subset']!r}, test subset {info['test_subset']!r}",
        "videos: " + ", ".join(f"{k} {n}" for k, n in info["videos"].items()),
        f"snippets per video: min {sn['min']:g}, median {sn['median']:g}, max {sn['max']:g}; total {sn['total']}",
        "feature dims: " + ", ".join(f"{s} {'/'.join(map(str, d)) or '-'}" for s, d in info["feature_dims"].items()),
        f"classes: {info['classes']['count']}",
    ]
    lines += [f"  {name}: {n} instances" for name, n in info["classes"]["instances"].items()]
    lines += [
        f"segments: {seg['count']}, length mean {seg['length']['mean']:.2f} s, median {seg['length']['median']:.2f} s; "
        f"coverage per annotated video mean {seg['coverage']['mean']:.3f}, median {seg['coverage']['median']:.3f}",
        f"multi-label videos: {info['multi_label_videos']}",
    ]
    return "\n".join(lines)
