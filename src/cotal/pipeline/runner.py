"""`cotal fit` and `cotal detect` as library calls: a whole run into a folder, and a finished run on new videos."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotal.config import Config, load_config
from cotal.data import FeatureDataset
from cotal.data.fingerprint import check_run_data
from cotal.errors import ConfigError, DataError
from cotal.evaluate.formats import write_detections
from cotal.model import load_model
from cotal.pipeline.rounds import RunResult, has_labels, run_unsupervised, run_weak
from cotal.pipeline.stages import Pipeline, detect_outputs, run_streams
from cotal.train import export_outputs
from cotal.train.distributed import dist_info
from cotal.utils.io import read_json, read_yaml, write_json
from cotal.utils.outdir import path_inside, run_folder
from cotal.utils.run import RunLayout, check_run_format
from cotal.utils.seed import seed_everything


def fit(
    data: str | os.PathLike,
    run_dir: str | os.PathLike,
    config: Config,
    *,
    progress: bool = True,
    argv: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the method on a native-layout dataset; returns (and writes) ``RUN/metrics.json``.

    Resumes when ``run_dir`` holds an earlier run of the same configuration; refuses a different one, except
    that detection and evaluation settings may change: a rerun then only re-detects and re-evaluates. A run
    written by a cotal of another run format is refused. ``overwrite`` deletes an earlier run in ``run_dir``
    first (only one cotal made, under the run's lock).
    """
    run_dir = Path(run_dir)
    resolved = config.to_dict()
    existing = RunLayout(run_dir).config
    dataset = FeatureDataset(data)  # bad data fails before the run folder is touched
    with run_folder(run_dir, inputs=[data], main=dist_info().rank == 0, overwrite=overwrite):
        check_run_format(run_dir)
        if existing.exists():
            diff = _differences(_training_part(read_yaml(existing) or {}), _training_part(resolved))
            if diff:
                raise ConfigError(
                    f"{run_dir}: holds a run with a different configuration ({'; '.join(diff[:4])}"
                    f"{'; ...' if len(diff) > 4 else ''}); choose another --out or pass --overwrite"
                )
        if dist_info().rank == 0:
            check_run_data(run_dir, dataset)  # cached stages are reused only for the same data
        seed_everything(config.pipeline.seed)
        pipe = Pipeline(dataset, config, run_dir, progress=progress)
        pipe.run.start(resolved, seed=config.pipeline.seed, argv=argv, extra={"data": str(Path(data).resolve())})
        try:
            return _run(pipe)
        finally:
            pipe.run.detach_log()  # later runs in this process must not write into this run's log.txt


def _run(pipe: Pipeline) -> dict[str, Any]:
    """The weak or the unsupervised path, then the final models' detections and their evaluation."""
    supervision = pipe.cfg.pipeline.supervision
    result = run_weak(pipe) if supervision == "weak" else run_unsupervised(pipe)
    _write_final(pipe, result)
    metrics: dict[str, Any] = {"supervision": supervision, "rounds": result.rounds}
    if result.selected_round is not None:
        metrics["selected_round"] = result.selected_round
        metrics["selection"] = result.selection
        metrics["choices"] = read_json(pipe.layout.choices)
    if pipe.run.is_main and pipe.test_ids:
        outputs = pipe.predict(result.models, pipe.test_ids, result.final_round, "test")
        detections = pipe.detect(outputs, pipe.test_ids, result.class_names)
        write_detections(pipe.layout.detections_test, detections)
        if has_labels(pipe.ds, pipe.test_ids):
            metrics["detection"] = pipe.evaluate(detections, result.clusters)
    metrics["timings_s"] = {k: round(v, 2) for k, v in pipe.timings.items()}
    if pipe.run.is_main:
        write_json(pipe.layout.metrics, metrics)
    return metrics


def _write_final(pipe: Pipeline, result: RunResult) -> None:
    """``RUN/final.json``: supervision, class names and the final model files (relative to the run)."""
    if not pipe.run.is_main:
        return
    layout = pipe.layout
    models = {s: str(layout.model_file(result.final_round, s).relative_to(layout.root)) for s in pipe.streams}
    final = {"supervision": pipe.cfg.pipeline.supervision, "class_names": result.class_names, "models": models}
    write_json(layout.final, final)


def _training_part(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that determine clusters and models; detection and evaluation settings may change on a rerun."""
    out = {k: dict(v) for k, v in config.items() if k != "detect" and isinstance(v, dict)}
    out.get("pipeline", {}).pop("tiou_thresholds", None)
    return out


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')} ({a!r} there, {b!r} now)"]


def detect_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike,
    *,
    subset: str | None = None,
    video_ids: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Detections of a finished run's final models on any videos of a dataset (annotations may be empty)."""
    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    if not layout.final.exists():
        raise DataError(f"{run_dir}: no {layout.final.name}; is this a finished `cotal fit` run directory?")
    check_run_format(run_dir)
    final = read_json(layout.final)
    if (
        not isinstance(final, dict)
        or not isinstance(final.get("models"), dict)
        or not isinstance(final.get("class_names"), list)
    ):
        raise DataError(f"{layout.final}: malformed; expected an object with 'models' and 'class_names'")
    config = load_config(layout.config)
    dataset = FeatureDataset(data)
    ids = list(video_ids) if video_ids is not None else dataset.video_ids(subset)
    if not ids:
        raise DataError(f"{data}: no videos" + (f" in subset {subset!r}" if subset else ""))
    outputs = {}
    for stream in run_streams(config, dataset):
        model, _ = load_model(path_inside(run_dir, final["models"].get(stream), layout.final))
        dim = dataset.feature_dim(stream)
        if dim != model.in_dim:  # said in features, before any shape error of the model
            raise DataError(
                f"{data}: the run's {stream} model was trained on {model.in_dim}-d features, but this dataset's "
                f"{stream} features are {dim}-d; use the dataset the run was trained on, or features extracted the "
                "same way"
            )
        outputs[stream] = export_outputs(model, dataset, ids, stream)
    return detect_outputs(outputs, dataset, ids, final["class_names"], config)
