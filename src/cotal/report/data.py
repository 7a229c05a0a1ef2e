"""What the report shows, read from a finished run: its records (``metrics.json``, ``final.json``, ``run.json``,
``config.yaml``), training logs, detections, clusters and final model outputs, and the test videos to draw."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotal.data import FeatureDataset
from cotal.errors import ConfigError, DataError
from cotal.evaluate.detection import per_video_map
from cotal.evaluate.formats import read_clusters, read_detections
from cotal.evaluate.mapping import apply_mapping, build_mapping
from cotal.model.outputs import VideoOutput
from cotal.report.video import video_sources
from cotal.utils.io import read_json, read_yaml
from cotal.utils.outdir import path_inside
from cotal.utils.run import RunLayout, check_run_format

CLUSTER_KEYS = ("purity", "ari", "nmi_geometric", "nmi_arithmetic")
# Label-free per-round signals of the pipeline (docs/clustering.md), shown before the ground-truth columns.
ROUND_SIGNALS = (
    "round",
    "num_clusters",
    "silhouette",
    "agreement_previous",
    "attention_distinctiveness",
    "inverted",
)
# Columns of train_log.csv that are bookkeeping, not losses.
NOT_LOSSES = ("step", "epoch", "lr", "snippets_per_s")
# How each entry of metrics.json's "detection" is titled.
MAPPING_NAMES = {"soft": "clusters, soft map", "hungarian": "clusters, hungarian", "weak": "weakly supervised"}

# Model outputs of the test videos: model name -> video id -> {"cas", "attention", "probs"} arrays.
Outputs = dict[str, dict[str, VideoOutput]]  # stream -> video id -> outputs


@dataclass
class RunRecord:
    """A finished run as the report reads it.

    Attributes:
        root: the run directory as given; ``layout`` its files.
        metrics, final, run_info, config: ``metrics.json``, ``final.json``, ``run.json`` and ``config.yaml``
            (the last two empty when absent).
        dataset: the dataset the run was fitted on.
        sources: video id -> video file, where ``cotal extract`` recorded one that exists.
        detections: test detections, video id -> list of ``{"segment", "label", "score"}`` (empty when absent).
        assignments: training video id -> cluster id (``None`` without ``clusters.json``).
    """

    root: Path
    layout: RunLayout
    metrics: dict[str, Any]
    final: dict[str, Any]
    run_info: dict[str, Any]
    config: dict[str, Any]
    dataset: FeatureDataset
    sources: dict[str, Path]
    detections: dict[str, list[dict[str, Any]]]
    assignments: dict[str, int] | None

    @property
    def class_names(self) -> list[str]:
        """Labels of the final model: cluster ids (unsupervised) or classes (weak)."""
        return self.final.get("class_names", [])

    @property
    def tiou_thresholds(self) -> list[float]:
        """The run's evaluation thresholds."""
        return self.config.get("pipeline", {}).get("tiou_thresholds", [0.3, 0.5, 0.7])


def read_run(run_dir: str | os.PathLike, data: str | os.PathLike | None, videos: Sequence[str]) -> RunRecord:
    """Read a finished run (``data``: its dataset, default the one in ``run.json``; ``videos``: ids asked for).

    Raises:
        DataError: not a finished run, the dataset cannot be found, or an unknown video id.
    """
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    if not layout.final.is_file() or not layout.metrics.is_file():
        raise DataError(f"{run_dir}: no final.json/metrics.json; is this a finished `cotal fit` run directory?")
    check_run_format(run_dir)
    metrics = read_json(layout.metrics)
    final = read_json(layout.final)
    run_info = read_json(layout.run_info) if layout.run_info.exists() else {}
    config = read_yaml(layout.config) if layout.config.exists() else {}
    data = data if data is not None else run_info.get("data")
    if data is None:
        raise DataError(f"{run_dir}: run.json does not say which dataset was used; pass --data")
    ds = FeatureDataset(data)
    unknown = [v for v in videos if v not in ds.annotations]
    if unknown:
        raise DataError(f"{data}: no video {unknown[0]!r} (asked for in --video)")
    try:
        sources = video_sources(data)
    except ConfigError:
        sources = {}  # no video decoding without the [extract] extra: a page without pictures
    return RunRecord(
        root=run_dir,
        layout=layout,
        metrics=metrics,
        final=final,
        run_info=run_info,
        config=config,
        dataset=ds,
        sources=sources,
        detections=read_detections(layout.detections_test) if layout.detections_test.exists() else {},
        assignments=read_clusters(layout.clusters) if layout.clusters.exists() else None,
    )


def read_train_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``train_log.csv`` as float arrays (empty dict when the file has no rows)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def training_logs(layout: RunLayout) -> dict[str, dict[str, np.ndarray]]:
    """``"round r, name model"`` -> its training log, for every model that logged a step."""
    logs = {}
    for r, name, path in layout.train_logs():
        log = read_train_log(path)
        if "step" in log:
            logs[f"round {r}, {name} model"] = log
    return logs


def final_outputs(layout: RunLayout, final: dict[str, Any]) -> Outputs:
    """Test-video outputs of each final model, for the models whose outputs were exported."""
    from cotal.train import load_outputs

    out = {}
    for name, model_path in final["models"].items():
        # a path from a run file must stay inside the run
        path = layout.outputs_beside(path_inside(layout.root, model_path, layout.final), "test", name)
        if path.exists():
            out[name] = load_outputs(path)
    return out


def cluster_class_counts(ds: FeatureDataset, assign: Mapping[str, int], clusters: Sequence[int]) -> np.ndarray | None:
    """(K, C) int64: training videos of each of the K ``clusters`` carrying each of the dataset's C classes (a
    multi-label video counts for each class); ``None`` when no assigned video is labelled."""
    classes = ds.classes
    if not classes or not any(len(ds.annotation(v).labels) for v in assign if v in ds.annotations):
        return None
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    for v, k in assign.items():
        if v in ds.annotations:
            for lab in ds.annotation(v).video_labels:
                table[clusters.index(k), classes.index(lab)] += 1
    return table


def detections_by_label(
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Label -> (video id, detection) of every detection carrying it, in input order."""
    by_label: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for vid, dets in detections.items():
        for d in dets:
            by_label.setdefault(str(d["label"]), []).append((vid, d))
    return by_label


def videos_to_draw(run: RunRecord, outputs: Outputs, videos: Sequence[str], per_end: int) -> list[tuple[str, str]]:
    """(video, why) for the timelines: ``videos`` first, then the ``per_end`` best and worst test videos by AP
    (averaged over the run's thresholds; cluster labels go through the Hungarian mapping for this ranking only).

    Raises:
        DataError: a requested video is not a test video with outputs of every final model.
    """
    ds = run.dataset
    class_dets = run.detections
    if run.assignments and ds.classes:
        class_dets = apply_mapping(class_dets, build_mapping(run.assignments, ds.annotations, method="hungarian"))
    scores = per_video_map(ds.annotations, {v: class_dets.get(v, []) for v in ds.test_ids}, run.tiou_thresholds)
    drawable = [v for v in ds.test_ids if all(v in o for o in outputs.values())]
    missing = [v for v in videos if v not in drawable]
    if missing:
        raise DataError(f"{run.root}: video {missing[0]!r} is not a test video of this run (no model outputs)")
    return choose_videos(drawable, list(videos), {v: s for v, s in scores.items() if v in drawable}, per_end)


def choose_videos(
    candidates: Sequence[str], requested: Sequence[str], scores: Mapping[str, float], per_end: int = 2
) -> list[tuple[str, str]]:
    """(video, why) to draw: the requested ones, then the ``per_end`` best and worst by AP (else the first ones)."""
    chosen: list[tuple[str, str]] = [(v, "requested") for v in requested]
    seen = set(requested)
    ranked = sorted(scores, key=lambda v: (-scores[v], v))
    picks = [(v, f"best by AP ({100 * scores[v]:.1f}%)") for v in ranked[:per_end]]
    picks += [(v, f"worst by AP ({100 * scores[v]:.1f}%)") for v in ranked[::-1][:per_end]]
    if not scores:
        picks = [(v, "first test videos") for v in candidates[: 2 * per_end]]
    for v, why in picks:
        if v not in seen:
            chosen.append((v, why))
            seen.add(v)
    return chosen
