"""What the report shows, read from a finished run: its records (``metrics.json``, ``final.json``, ``run.json``,
``config.yaml``), training logs, detections, clusters and final model outputs, and the test videos to draw."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cotal.data import FeatureDataset
from cotal.data.fingerprint import RUN_DATA, compare_run_data
from cotal.errors import DataError
from cotal.evaluate.detection import per_video_map
from cotal.evaluate.formats import read_clusters, read_detections
from cotal.evaluate.mapping import apply_mapping, build_mapping
from cotal.model.outputs import VideoOutput
from cotal.report.records import CONFIG, FINAL, RUN_INFO, check_fields, check_metrics
from cotal.report.video import video_sources
from cotal.utils.io import read_json, read_text, read_yaml
from cotal.utils.outdir import path_inside
from cotal.utils.run import RunLayout, check_run_format
from cotal.utils.text import short_repr

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


def require_finished(run_dir: str | os.PathLike) -> RunLayout:
    """The layout of a finished run; reads nothing else.

    Raises:
        DataError: ``run_dir`` lacks ``final.json`` or ``metrics.json``.
    """
    layout = RunLayout(Path(run_dir))
    if not layout.final.is_file() or not layout.metrics.is_file():
        raise DataError(f"{run_dir}: no final.json/metrics.json; is this a finished `cotal fit` run directory?")
    return layout


def read_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None,
    videos: Sequence[str],
    video_dir: str | os.PathLike | None = None,
) -> RunRecord:
    """Read a finished run (``data``: its dataset, default the one in ``run.json``; ``videos``: ids asked for;
    ``video_dir``: the folder whose video files may give pictures, none without it).

    Raises:
        DataError: not a finished run, a run file of the wrong types, the dataset cannot be found, or an unknown
            video id.
        ConfigError: ``data`` is not the dataset the run was made from (``RUN/data.json``).
    """
    run_dir = Path(run_dir)
    layout = require_finished(run_dir)
    check_run_format(run_dir)
    metrics = check_metrics(read_json(layout.metrics), layout.metrics)
    final = check_fields(read_json(layout.final), FINAL, layout.final)
    run_info = _run_info(layout)
    config = check_fields(read_yaml(layout.config), CONFIG, layout.config) if layout.config.exists() else {}
    data = dataset_of(layout, data)
    ds = FeatureDataset(data)
    if not compare_run_data(run_dir, ds):
        warnings.warn(f"{run_dir}: no {RUN_DATA}, so {data} cannot be checked to be the data of this run", stacklevel=2)
    unknown = [v for v in videos if v not in ds.annotations]
    if unknown:
        raise DataError(f"{data}: no video {short_repr(unknown[0])} (asked for in --video-ids)")
    return RunRecord(
        root=run_dir,
        layout=layout,
        metrics=metrics,
        final=final,
        run_info=run_info,
        config=config,
        dataset=ds,
        sources=video_sources(data, video_dir) if video_dir is not None else {},
        detections=read_detections(layout.detections_test) if layout.detections_test.exists() else {},
        assignments=read_clusters(layout.clusters) if layout.clusters.exists() else None,
    )


def _run_info(layout: RunLayout) -> dict[str, Any]:
    return check_fields(read_json(layout.run_info), RUN_INFO, layout.run_info) if layout.run_info.exists() else {}


def dataset_of(layout: RunLayout, data: str | os.PathLike | None) -> str | os.PathLike:
    """``data``, or else the dataset the run's ``run.json`` records.

    Raises:
        DataError: neither names one, or ``run.json`` is malformed.
    """
    data = data if data is not None else _run_info(layout).get("data")
    if data is None:
        raise DataError(f"{layout.root}: run.json does not say which dataset was used; pass --data")
    return data


def read_train_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``train_log.csv`` as float arrays (empty dict when the file has no rows).

    Raises:
        DataError: a value that is not a number, or a row of another length than the header, naming the line.
    """
    try:
        rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    except csv.Error as e:
        raise DataError(f"{path}: not a CSV file ({e})") from None
    if len(rows) < 2:
        return {}
    header, columns = rows[0], [[] for _ in rows[0]]
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} values for {len(header)} columns")
        for column, name, text in zip(columns, header, row, strict=True):
            try:
                column.append(float(text))
            except ValueError:
                raise DataError(
                    f"{path}: line {line}: {short_repr(name)} must be a number, got {short_repr(text)}"
                ) from None
    return {name: np.array(column) for name, column in zip(header, columns, strict=True)}


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

    classes = final.get("class_names", [])
    out = {}
    for name, model_path in final["models"].items():
        # a path from a run file must stay inside the run
        path = layout.outputs_beside(path_inside(layout.root, model_path, layout.final), "test", name)
        if path.exists():
            out[name] = load_outputs(path)
            wrong = [v for v, o in out[name].items() if o.num_classes != len(classes)]
            if wrong:
                raise DataError(
                    f"{path}: video {short_repr(wrong[0])} has outputs of {out[name][wrong[0]].num_classes} classes, "
                    f"but {layout.final} names {len(classes)}"
                )
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
