"""The stages of `cotal fit`, each callable alone on a run directory (docs/design.md, "pipeline").

Every stage computes its result on first use and stores it in the run directory (:class:`RunLayout` says where);
a later call, or a rerun of the same command, reads it back instead (resume). Only the main process of a
distributed run writes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from cotal.cluster.choices import CenterChoice, choose_center
from cotal.cluster.descriptors import round0_weights
from cotal.cluster.stage import Clustering, cluster_videos
from cotal.cluster.weights import SnippetWeights, attention_weights
from cotal.config import Config
from cotal.data import FeatureDataset
from cotal.data.normalize import Normalization, fit_normalization, load_normalization, save_normalization
from cotal.detect import detect
from cotal.errors import ConfigError, DataError
from cotal.evaluate.formats import detections_to_arrays, read_clusters, write_clusters
from cotal.evaluate.run import run_evaluation
from cotal.model import CoAttentionModel, VideoOutput, load_model
from cotal.train import Trainer, export_outputs, load_outputs, save_outputs
from cotal.train.distributed import all_gather_objects, barrier, dist_info
from cotal.utils.io import read_json, write_json
from cotal.utils.run import RunDir, get_logger, stage_timer

Outputs = dict[str, dict[str, VideoOutput]]  # stream -> video id -> one model's outputs


def model_seed(seed: int, r: int, index: int) -> int:
    """Training seed of round ``r``'s model number ``index`` (its stream's place in ``pipeline.streams``).

    Drawn from ``numpy.random.SeedSequence([seed, r, index])``, so every round and stream starts from its own
    initialisation and no two runs' seeds collide by arithmetic.
    """
    return int(np.random.SeedSequence([seed, r, index]).generate_state(1)[0])


def run_streams(config: Config, dataset: FeatureDataset) -> tuple[str, ...]:
    """The streams a run trains one model each on: ``pipeline.streams``, which the dataset must have."""
    streams = tuple(config.pipeline.streams)
    missing = [s for s in streams if s not in dataset.streams]
    if missing:
        raise ConfigError(
            f"pipeline.streams asks for {', '.join(missing)} but {dataset.root} has only {', '.join(dataset.streams)}"
        )
    return streams


@dataclass(frozen=True)
class Round0Inputs:
    """What round 0 clusters a set of videos with.

    Attributes:
        normalization: the input standardisation fitted on the videos (``data.normalize``).
        center: whether descriptors are centred on each video's median snippet (``cluster.center``), and why.
        weights: the label-free snippet weights (``cluster.pooling``); None for mean pooling (or not asked for).
    """

    normalization: Normalization
    center: CenterChoice
    weights: SnippetWeights | None


def round0_inputs(
    dataset: FeatureDataset, video_ids: Sequence[str], config: Config, *, with_weights: bool = True
) -> Round0Inputs:
    """Round 0's inputs for ``video_ids``. ``cotal cluster`` calls this; :class:`Pipeline` computes the same once
    per run and stores them."""
    streams = run_streams(config, dataset)
    norm = fit_normalization(dataset, video_ids, streams, config.data.normalize)
    center = choose_center(config.cluster.center, dataset, video_ids, streams, norm)
    weights = _round0_weights(dataset, video_ids, config, streams, norm, center.center) if with_weights else None
    return Round0Inputs(norm, center, weights)


def _round0_weights(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    config: Config,
    streams: Sequence[str],
    norm: Normalization,
    center: bool,
) -> SnippetWeights | None:
    c = config.cluster
    return round0_weights(
        dataset,
        video_ids,
        pooling=c.pooling,
        streams=streams,
        normalization=norm,
        center=center,
        fraction=c.top_fraction,
    )


class Pipeline:
    """The stages of `cotal fit` on one dataset, configuration and run directory.

    Args:
        dataset: the features and (optionally) ground truth.
        config: resolved configuration.
        run_dir: output folder; results already in it are reused.
        progress: show progress bars.
    """

    def __init__(
        self, dataset: FeatureDataset, config: Config, run_dir: str | os.PathLike, progress: bool = True
    ) -> None:
        self.ds = dataset
        self.cfg = config
        self.dist = dist_info()
        self.run = RunDir(run_dir, rank=self.dist.rank)
        self.layout = self.run.layout
        self.progress = progress
        self.log = get_logger()
        self.timings: dict[str, float] = {}
        self.streams = run_streams(config, dataset)
        self.train_ids = dataset.train_ids
        self.test_ids = dataset.test_ids
        if len(self.train_ids) < 2:
            raise DataError(f"{dataset.root}: subset {dataset.meta.train_subset!r} has {len(self.train_ids)} videos")

    # -- input statistics and round 0's pooling ---------------------------------------------------
    @cached_property
    def normalization(self) -> Normalization:
        """The run's input standardisation, fitted on the training videos (``RUN/normalization.npz``)."""
        path = self.layout.normalization
        if path.exists():
            return load_normalization(path)
        norm = fit_normalization(self.ds, self.train_ids, self.streams, self.cfg.data.normalize)
        if self.run.is_main:
            save_normalization(path, norm)
        barrier()
        return norm

    @cached_property
    def center(self) -> CenterChoice:
        """Whether every round centres each video on its median snippet (``cluster.center``; "auto" decides from
        the training videos once and stores the decision in ``RUN/choices.json``)."""
        path = self.layout.choices
        if path.exists():
            return CenterChoice.from_json(read_json(path)["center"])
        with stage_timer(self.timings, "clustering"):
            choice = choose_center(self.cfg.cluster.center, self.ds, self.train_ids, self.streams, self.normalization)
        self.log.info("%s", choice.describe())
        if self.run.is_main:
            write_json(path, {"center": choice.to_json()})
        barrier()
        return choice

    def round0_weights(self) -> SnippetWeights | None:
        """Label-free snippet weights of round 0's clustering (``RUN/round0_weights.npz``); None: mean pooling."""
        path = self.layout.round0_weights
        if self.cfg.cluster.pooling == "mean":
            return None
        if path.exists():
            return SnippetWeights.load(path)
        with stage_timer(self.timings, "clustering"):
            weights = _round0_weights(
                self.ds, self.train_ids, self.cfg, self.streams, self.normalization, self.center.center
            )
        if self.run.is_main and weights is not None:
            weights.save(path)
        return weights

    # -- clustering ---------------------------------------------------------------------------------
    def num_clusters(self) -> int:
        """C: ``pipeline.clusters``, or the number round 0's clustering estimated ("auto")."""
        fixed = self.cfg.pipeline.clusters
        return fixed if isinstance(fixed, int) else self.cluster(0).n_clusters

    def cluster(self, r: int, weights: SnippetWeights | None = None) -> Clustering:
        """Round r's clustering of the training videos (``RUN/round_<r>/clusters.json``, ``clustering.json``).

        Args:
            r: the round.
            weights: the snippet weights that pool the descriptors. None: round 0's label-free weights in
                round 0, and round r - 1's attention S (``attention_train.npz``) after.
        """
        path, info_path = self.layout.round_clusters(r), self.layout.clustering_info(r)
        # Rank 0's view decides for every rank: a rank that saw rank 0's fresh files would skip the barrier below.
        if all_gather_objects(path.exists() and info_path.exists())[0]:
            return self._read_clustering(path, info_path)
        if weights is None:
            weights = self.round0_weights() if r == 0 else SnippetWeights.load(self.layout.attention_train(r - 1))
        n_clusters = self.cfg.pipeline.clusters if r == 0 else self.num_clusters()  # "auto": estimated once
        with stage_timer(self.timings, "clustering"):
            result = cluster_videos(
                self.ds,
                self.train_ids,
                n_clusters=n_clusters,
                streams=self.streams,
                normalization=self.normalization,
                center=self.center.center,
                weights=weights,
                solver=self.cfg.cluster.solver,
                seed=self.cfg.pipeline.seed,
            )
        if self.run.is_main:
            write_json(info_path, result.info())
            write_clusters(path, result.assignments())
        barrier()
        return result

    def center_alternative(self, first: Clustering) -> dict[str, float | None]:
        """For ``cluster.center: auto``: the round-0 silhouette of the choice made and of the other one (same C),
        stored beside the decision in ``RUN/choices.json``. Reported only: a per-video signature makes tight
        clusters of the wrong kind, so the silhouette does not decide."""
        path = self.layout.choices
        saved = read_json(path)["center"] if path.exists() else {}
        if "alternative_silhouette" in saved:
            return {k: saved[k] for k in ("silhouette", "alternative_silhouette")}
        other = not self.center.center
        with stage_timer(self.timings, "clustering"):
            weights = _round0_weights(self.ds, self.train_ids, self.cfg, self.streams, self.normalization, other)
            alternative = cluster_videos(
                self.ds,
                self.train_ids,
                n_clusters=first.n_clusters,
                streams=self.streams,
                normalization=self.normalization,
                center=other,
                weights=weights,
                solver=self.cfg.cluster.solver,
                seed=self.cfg.pipeline.seed,
            )
        scores = {"silhouette": first.silhouette, "alternative_silhouette": alternative.silhouette}
        if self.run.is_main:
            write_json(path, {"center": {**self.center.to_json(), **scores}})
        return scores

    def _read_clustering(self, path: os.PathLike, info_path: os.PathLike) -> Clustering:
        return Clustering.from_info(self.train_ids, read_clusters(path), read_json(info_path), str(path))

    # -- training and inference ---------------------------------------------------------------------
    def train(
        self, r: int, video_ids: Sequence[str], targets: np.ndarray, groups: list[list[int]]
    ) -> dict[str, CoAttentionModel]:
        """Round r's model of every stream (``RUN/round_<r>/model_<stream>/``), trained on ``video_ids`` with
        ``targets`` (N, C) and the sampler's ``groups`` (one row per video)."""
        models = {}
        norm = self.normalization
        for index, stream in enumerate(self.streams):
            self.log.info(
                "round %d: training %s model on %d videos, %d classes", r, stream, len(targets), targets.shape[1]
            )
            with stage_timer(self.timings, "training"):
                if self.layout.model_file(r, stream).exists():
                    models[stream], _ = load_model(self.layout.model_file(r, stream))
                    continue
                models[stream] = Trainer(
                    self.ds,
                    video_ids,
                    targets,
                    groups,
                    stream=stream,
                    run_dir=self.layout.model_dir(r, stream),
                    seed=model_seed(self.cfg.pipeline.seed, r, index),
                    model_config=self.cfg.model,
                    loss_config=self.cfg.loss,
                    train_config=self.cfg.train,
                    progress=f"round {r}, {stream} model" if self.progress else False,
                    input_normalization=(
                        norm.affine((stream,), [self.ds.feature_dim(stream)]) if norm.streams else None
                    ),
                ).fit()
        return models

    def predict(self, models: dict[str, CoAttentionModel], video_ids: Sequence[str], r: int, split: str) -> Outputs:
        """Full-length outputs of round r's models on ``video_ids`` (``RUN/round_<r>/outputs_<split>_<stream>.npz``)."""
        outputs = {}
        for stream in self.streams:
            path = self.layout.outputs(r, split, stream)
            if path.exists():
                outputs[stream] = load_outputs(path)
                continue
            with stage_timer(self.timings, "inference"):
                outputs[stream] = export_outputs(models[stream], self.ds, video_ids, stream)
            if self.run.is_main:
                save_outputs(path, outputs[stream])
        return outputs

    def attention(self, r: int, outputs: Outputs) -> SnippetWeights:
        """The weights that pool round r + 1: S of round r's models on the training videos, per stream or fused
        (``pipeline.attention_pooling``), stored as ``RUN/round_<r>/attention_train.npz``."""
        weights = attention_weights(outputs, self.cfg.pipeline.attention_pooling, self.train_ids)
        if self.run.is_main:
            weights.save(self.layout.attention_train(r))
        return weights

    # -- detection and evaluation -------------------------------------------------------------------
    def detect(self, outputs: Outputs, video_ids: Sequence[str], class_names: Sequence[str]) -> dict[str, list]:
        """Detections of ``video_ids`` from their outputs (docs/method.md §8)."""
        with stage_timer(self.timings, "detection"):
            return detect_outputs(outputs, self.ds, video_ids, class_names, self.cfg)

    def evaluate(self, detections: dict[str, list], assign: dict[str, int] | None) -> dict[str, Any]:
        """Test mAP (ground truth: reporting only); unsupervised detections are mapped to classes both ways."""
        kw: dict[str, Any] = dict(tiou_thresholds=list(self.cfg.pipeline.tiou_thresholds), video_ids=self.test_ids)
        with stage_timer(self.timings, "evaluation"):
            if self.cfg.pipeline.supervision == "weak":
                return {"weak": run_evaluation(self.ds.annotations, detections, **kw).detection.to_json()}
            arrays = detections_to_arrays(detections)  # converted once for both mappings
            return {
                method: run_evaluation(
                    self.ds.annotations, arrays, train_assignments=assign, mapping=method, **kw
                ).detection.to_json()
                for method in ("soft", "hungarian")
            }


def detect_outputs(
    outputs: Outputs, dataset: FeatureDataset, video_ids: Sequence[str], class_names: Sequence[str], config: Config
) -> dict[str, list[dict[str, Any]]]:
    """Detections from model outputs (stream -> video id -> :class:`VideoOutput`) with the run's settings."""
    return detect(
        outputs,
        timing=dataset.timing,
        durations={v: dataset.annotation(v).duration for v in video_ids},
        class_names=class_names,
        config=config.detect,
    )
