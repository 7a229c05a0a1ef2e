"""The whole method end to end (docs/method.md §7): cluster -> train -> re-pool and re-cluster -> detect -> evaluate.

Rounds (unsupervised mode, ``pipeline.rounds = R``), numbered from 0 in the log, ``metrics.json`` and the run
folder (``RUN/round_<r>/``, see :class:`cotal.utils.run.RunLayout`)::

    for r in 0..R-1:
        clusters_r = spectral(descriptors of the training videos pooled with
                              round 0: the label-free round-0 weights (mean pooling by default),
                              round r > 0: model_{r-1}'s class-agnostic attention S)
        model_r    = fresh co-attention model(s) trained on clusters_r as pseudo-labels
        signals of round r; stop early (inverted S, patience) or go on
    detections = detect(model_s on the test videos)        # s: the selected round; labels are clusters_s ids

So R rounds cluster R times and train R models; the detection labels refer to the clusters the final model was
trained on, which is what ``RUN/clusters.json`` holds. Ground truth is read only for reporting (per-round
purity/ARI/NMI, test mAP) and to map clusters to classes with the training videos' labels; it never reaches
training or model selection. In weak mode the single model (round 0) is trained on the training videos'
video-level labels instead.

Every stage writes its result atomically into the run directory and is skipped when that result exists, so a
killed ``cotal fit`` resumes where it stopped (training itself resumes from its last checkpoint).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from cotal.cluster import SpectralVideoClustering, signals, video_descriptors
from cotal.cluster.descriptors import distinctiveness, joint_snippets, round0_weights
from cotal.config import Config, rename_legacy_keys
from cotal.data import FeatureDataset
from cotal.data.attention import SHARED, load_attention, save_attention
from cotal.data.fingerprint import check_run_data
from cotal.data.normalize import Normalization, fit_normalization, load_normalization, save_normalization
from cotal.detect import detect
from cotal.errors import ConfigError, DataError
from cotal.evaluate import clustering_metrics
from cotal.evaluate.detection import detections_to_arrays
from cotal.evaluate.formats import read_clusters, write_clusters, write_detections
from cotal.evaluate.run import run_evaluation
from cotal.model import load_model
from cotal.train import Trainer, export_outputs, label_targets, load_outputs, save_outputs
from cotal.train.distributed import all_gather_objects, barrier, dist_info
from cotal.utils.io import read_json, read_yaml, write_json
from cotal.utils.outdir import path_inside, run_folder
from cotal.utils.run import RunDir, RunLayout, get_logger, stage_timer
from cotal.utils.seed import seed_everything


def model_inputs(config: Config, dataset: FeatureDataset) -> list[tuple[str, tuple[str, ...]]]:
    """(name, input streams) of each model a round trains: one per stream or one joint model (stream_models)."""
    streams = tuple(config.pipeline.streams)
    missing = [s for s in streams if s not in dataset.streams]
    if missing:
        raise ConfigError(
            f"pipeline.streams asks for {', '.join(missing)} but {dataset.root} has only {', '.join(dataset.streams)}"
        )
    if config.pipeline.stream_models == "joint":
        return [("joint", streams)]
    return [(s, (s,)) for s in streams]


def video_label_targets(dataset: FeatureDataset, video_ids: Sequence[str]) -> tuple[np.ndarray, list[list[int]]]:
    """Ground-truth video-level targets (weak supervision): (N, C) distributions and class ids per video."""
    index = {c: i for i, c in enumerate(dataset.classes)}
    groups = [[index[lab] for lab in dataset.annotation(vid).video_labels] for vid in video_ids]
    for vid, labels in zip(video_ids, groups, strict=True):
        if not labels:
            raise DataError(f"{dataset.root}: training video {vid!r} has no labels; weak supervision needs them")
    return label_targets(groups, len(index)), groups


def cluster_targets(labels: np.ndarray, num_clusters: int) -> tuple[np.ndarray, list[list[int]]]:
    """One-hot pseudo-label targets (N, C) and the cluster of each video."""
    groups = [[int(c)] for c in labels]
    return label_targets(groups, num_clusters), groups


def has_labels(dataset: FeatureDataset, video_ids: Sequence[str]) -> bool:
    return any(len(dataset.annotation(v).labels) for v in video_ids)


@dataclasses.dataclass
class RoundSelection:
    """``pipeline.select_round`` over the rounds: the best ``select_by`` score so far, and early stopping."""

    select_round: str
    select_by: str
    patience: int
    best: tuple[float, int] | None = None  # (score, round)

    def add(self, r: int, row: dict[str, Any]) -> None:
        """Score round r by its ``metrics.json`` row (a round with an inverted S is never added)."""
        score = row.get("silhouette" if self.select_by == "silhouette" else "heldout_accuracy")
        if score is not None and (self.best is None or score > self.best[0]):
            self.best = (score, r)

    def patience_spent(self, r: int) -> bool:
        """Whether ``patience`` rounds up to round r brought no better one (``select_round: best`` only)."""
        return (
            self.select_round == "best"
            and bool(self.patience)
            and self.best is not None
            and r - self.best[1] >= self.patience
        )

    def selected(self, rows: list[dict[str, Any]]) -> int:
        """The kept round: the best one, or the last whose S is not inverted (the last one when none is)."""
        if self.select_round == "best" and self.best is not None:
            return self.best[1]
        valid = [row["round"] for row in rows if not row.get("inverted")] or [rows[-1]["round"]]
        return valid[-1]


@dataclasses.dataclass
class RunResult:
    """What the weak or the unsupervised path hands on to detection and evaluation.

    Attributes:
        final_round: the round whose model(s) detect (:class:`RunLayout` numbering).
        models: the final model of each input (stream or "joint").
        class_names: C names of the models' classes (cluster ids "0".."C-1", or the ground-truth classes).
        clusters: unsupervised: the cluster of every training video in the final round; weak: None.
        rounds: one ``metrics.json`` row per round (unsupervised; empty for weak supervision).
        selected_round: the round ``pipeline.select_round`` kept (unsupervised; None for weak supervision).
    """

    final_round: int
    models: dict[str, torch.nn.Module]
    class_names: list[str]
    clusters: dict[str, int] | None = None
    rounds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    selected_round: int | None = None


class Pipeline:
    """Runs `cotal fit` in a run directory.

    Args:
        dataset: the features and (optionally) ground truth.
        config: resolved configuration.
        run_dir: output folder; existing results in it are reused (resume).
        progress: show progress bars.
    """

    def __init__(self, dataset: FeatureDataset, config: Config, run_dir: str | os.PathLike, progress: bool = True):
        self.ds = dataset
        self.cfg = config
        self.dist = dist_info()
        self.run = RunDir(run_dir, rank=self.dist.rank)
        self.layout = self.run.layout
        self.progress = progress
        self.log = get_logger()
        self.timings: dict[str, float] = {}
        self.num_clusters: int | None = None
        self.models = model_inputs(config, dataset)
        self.train_ids = dataset.train_ids
        self.test_ids = dataset.test_ids
        if len(self.train_ids) < 2:
            raise DataError(f"{dataset.root}: subset {dataset.meta.train_subset!r} has {len(self.train_ids)} videos")

    # -- the whole run ----------------------------------------------------------------------------
    def run_all(self) -> dict[str, Any]:
        """Normalise, then the weak or the unsupervised path, then detect and evaluate the final model(s)."""
        cfg = self.cfg.pipeline
        if self.layout.legacy:
            self.log.info("%s: written by an earlier cotal; round r stays in round_<r+1>/", self.layout.root)
        self.norm = self.normalization()
        result = self._run_weak() if cfg.supervision == "weak" else self._run_unsupervised()
        self._write_final(result)
        metrics: dict[str, Any] = {"supervision": cfg.supervision, "rounds": result.rounds}
        if result.selected_round is not None:
            metrics["selected_round"] = result.selected_round
        if self.run.is_main and self.test_ids:
            detections = self._detect_test(result)
            if has_labels(self.ds, self.test_ids):
                with stage_timer(self.timings, "evaluation"):
                    metrics["detection"] = self.evaluate(detections, result.clusters)
        metrics["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        if self.run.is_main:
            write_json(self.layout.metrics, metrics)
        return metrics

    def _run_weak(self) -> RunResult:
        """One model per input trained on the training videos' ground-truth video-level labels, in round 0."""
        labelled = [v for v in self.train_ids if self.ds.annotation(v).video_labels]
        if not labelled:
            raise DataError(f"{self.ds.root}: no training video has labels; weak supervision needs them")
        if len(labelled) < len(self.train_ids):  # e.g. ActivityNet training videos without segments
            self.log.warning(
                "weak supervision: %d training videos have no labels and are left out",
                len(self.train_ids) - len(labelled),
            )
        targets, groups = video_label_targets(self.ds, labelled)
        models = self.train(0, labelled, targets, groups)
        self.export(models, self.train_ids, 0, "train")
        return RunResult(final_round=0, models=models, class_names=list(self.ds.classes))

    def _run_unsupervised(self) -> RunResult:
        """Rounds of cluster -> train -> export S -> signals -> stop or go on, then the selected round."""
        cfg = self.cfg.pipeline
        labelled = has_labels(self.ds, self.train_ids)
        attention = self.round0_attention()
        distinct = self._distinctiveness() if cfg.attention_guard else None
        selection = RoundSelection(cfg.select_round, cfg.select_by, cfg.patience)
        rows: list[dict[str, Any]] = []
        models: dict[str, torch.nn.Module] = {}
        previous: np.ndarray | None = None
        for r in range(cfg.rounds):
            labels, info = self.cluster(r, attention)
            row = self._clustering_row(r, labels, info["silhouette"], previous, labelled)
            train_ids, held = self.round_videos(r, labels, info["confidence"])
            models = self._train_on_clusters(r, labels, train_ids, warm=models if cfg.warm_start and r > 0 else None)
            # Every round exports S of all training videos (the last round's is kept for users).
            outputs = self.export(models, self.train_ids, r, "train")
            attention = self._save_attention(r, outputs)
            row["trained_on"] = len(train_ids)
            row.update(self._model_signals(outputs, attention, labels, held, distinct, labelled))
            rows.append(row)
            self.log.info("round %d: %s", r, _fmt({k: v for k, v in row.items() if k != "round"}))
            if self._stop_after(r, row, selection):
                break
            previous = labels
        return self._selected_result(rows, selection.selected(rows), models)

    # -- stages -----------------------------------------------------------------------------------
    def normalization(self) -> Normalization:
        """The run's input standardisation, fitted on the training videos once and stored in the run."""
        path = self.layout.normalization
        if path.exists():
            return load_normalization(path)
        norm = fit_normalization(self.ds, self.train_ids, tuple(self.cfg.pipeline.streams), self.cfg.data.normalize)
        if self.run.is_main:
            save_normalization(path, norm)
        barrier()
        return norm

    def round0_attention(self) -> dict[str, dict[str, np.ndarray]] | None:
        """Label-free snippet weights of round 0's clustering (None: the paper's mean pooling)."""
        c = self.cfg.cluster
        path = self.layout.round0_weights
        if c.pooling == "mean":
            return None
        if path.exists():
            return load_attention(path)
        with stage_timer(self.timings, "clustering"):
            weights = round0_weights(
                self.ds,
                self.train_ids,
                c.pooling,
                streams=self.cfg.pipeline.streams,
                normalization=self.norm,
                center=c.center,
                fraction=c.top_fraction,
                codebook_size=c.codebook_size,
                seed=self.cfg.pipeline.seed,
            )
        attention = {SHARED: weights}
        if self.run.is_main:
            save_attention(path, attention)
        return attention

    def cluster(self, r: int, attention: dict[str, dict[str, np.ndarray]] | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Round r's clustering of the training videos (pooled with ``attention``, mean pooling when None).

        Returns the (N,) cluster of each training video and the clustering's label-free signals
        (``silhouette`` and per-video ``confidence``).
        """
        path, info_path = self.layout.round_clusters(r), self.layout.clustering_info(r)
        # Rank 0's view decides for every rank: a rank that saw rank 0's fresh files would skip the barrier below.
        if all_gather_objects(path.exists() and info_path.exists())[0]:
            assign = read_clusters(path)
            labels = np.array([assign[v] for v in self.train_ids], dtype=np.int64)
            fixed = self.cfg.pipeline.clusters
            self.num_clusters = self.num_clusters or (fixed if isinstance(fixed, int) else int(labels.max()) + 1)
            return labels, read_json(info_path)
        streams = tuple(self.cfg.pipeline.streams)
        with stage_timer(self.timings, "clustering"):
            x = video_descriptors(
                self.ds, self.train_ids, attention, streams, normalization=self.norm, center=self.cfg.cluster.center
            )
            c = self.cfg.cluster
            est = SpectralVideoClustering(
                # "auto" estimates C once, on the first clustering; later rounds keep it.
                n_clusters=self.num_clusters or self.cfg.pipeline.clusters,
                solver=c.solver,
                n_neighbors=c.n_neighbors,
                n_init=c.n_init,
                random_state=self.cfg.pipeline.seed,
            )
            labels = est.fit_predict(x)
            self.num_clusters = est.n_clusters_
            info = {
                "silhouette": signals.silhouette(x, labels, seed=self.cfg.pipeline.seed),
                "confidence": signals.embedding_margin(est.embedding_, labels).round(6).tolist(),
            }
        if self.cfg.pipeline.clusters == "auto" and self.num_clusters <= 2:
            self.log.warning(
                "clusters auto: the eigengap picked C=%d; such a coarse split is rarely the action classes, "
                "consider --clusters C",
                self.num_clusters,
            )
        if self.run.is_main:
            write_json(info_path, info)
            write_clusters(path, dict(zip(self.train_ids, labels.tolist(), strict=True)))
        barrier()
        return labels, info

    def round_videos(self, r: int, labels: np.ndarray, confidence: Sequence[float]) -> tuple[list[str], list[str]]:
        """(training videos, held-out videos) of round ``r``: a growing confident core, minus a held-out draw."""
        cfg = self.cfg.pipeline
        fraction = cfg.core_fraction + (1 - cfg.core_fraction) * r / max(cfg.rounds - 1, 1)
        keep = signals.core_videos(labels, np.asarray(confidence), fraction)
        held = np.zeros(len(labels), dtype=bool)
        if cfg.heldout_fraction > 0:
            # r + 1: the draw of runs written when rounds were numbered from 1, so results stay the same.
            rng = np.random.default_rng([cfg.seed, 7919, r + 1])
            held[rng.permutation(len(labels))[: max(1, round(cfg.heldout_fraction * len(labels)))]] = True
        ids = np.asarray(self.train_ids)
        return ids[keep & ~held].tolist(), ids[held].tolist()

    def train(
        self,
        r: int,
        video_ids: Sequence[str],
        targets: np.ndarray,
        groups: list[list[int]],
        previous: dict[str, torch.nn.Module] | None = None,
    ) -> dict[str, torch.nn.Module]:
        """Train round r's model per input (stream or joint) on ``video_ids`` with ``targets`` (one row per
        video): fresh, or from ``previous`` (warm start)."""
        models = {}
        for name, streams in self.models:
            out_dir = self.layout.model_dir(r, name)
            dims = [self.ds.feature_dim(s) for s in streams]
            in_dim = sum(dims)
            norm = self.norm.affine(streams, dims) if self.norm.streams else None
            mcfg = dataclasses.replace(self.cfg.model, in_dim=in_dim, num_classes=targets.shape[1])
            # Different seeds per round and stream so the rounds are not copies of one initialisation
            # (r + 1: the seeds of runs written when rounds were numbered from 1, so results stay the same).
            tcfg = dataclasses.replace(self.cfg.train, seed=self.cfg.pipeline.seed * 1000 + (r + 1) * 10 + len(models))
            self.log.info(
                "round %d: training %s model on %d videos, %d classes", r, name, len(targets), targets.shape[1]
            )
            with stage_timer(self.timings, "training"):
                if self.layout.model_file(r, name).exists():
                    models[name], _ = load_model(self.layout.model_file(r, name))
                else:
                    models[name] = Trainer(
                        self.ds,
                        video_ids,
                        targets,
                        groups,
                        stream=_model_streams(name, streams),
                        model_config=mcfg,
                        loss_config=self.cfg.loss,
                        train_config=tcfg,
                        run_dir=out_dir,
                        progress=f"round {r}, {name} model" if self.progress else False,
                        init_state=previous[name].state_dict() if previous else None,
                        input_normalization=norm,
                    ).fit()
        return models

    def export(
        self, models: dict[str, torch.nn.Module], video_ids: Sequence[str], r: int, split: str
    ) -> dict[str, Any]:
        """Full-length outputs of round r's models on ``video_ids`` (the ``split`` videos), cached in the round."""
        outputs = {}
        for name, streams in self.models:
            path = self.layout.outputs(r, split, name)
            if path.exists():
                outputs[name] = load_outputs(path)
                continue
            with stage_timer(self.timings, "attention_export"):
                outputs[name] = export_outputs(models[name], self.ds, video_ids, _model_streams(name, streams))
            if self.run.is_main:
                save_outputs(path, outputs[name])
        return outputs

    def attention_of(self, outputs: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        """Class-agnostic attention S for re-pooling: per stream, or shared (joint model / geometric pooling)."""
        per_model = {name: {vid: o["attention"] for vid, o in per_video.items()} for name, per_video in outputs.items()}
        if "joint" in per_model:
            return {SHARED: per_model["joint"]}
        if self.cfg.pipeline.attention_pooling == "geometric" and len(per_model) > 1:
            return {SHARED: {vid: geometric_attention([s[vid] for s in per_model.values()]) for vid in self.train_ids}}
        return per_model

    # -- steps of a round -------------------------------------------------------------------------
    def _clustering_row(
        self, r: int, labels: np.ndarray, silhouette: float, previous: np.ndarray | None, labelled: bool
    ) -> dict[str, Any]:
        """Round r's ``metrics.json`` row so far: its clustering's signals (and, reported only, its purity)."""
        row: dict[str, Any] = {"round": r, "num_clusters": self.num_clusters, "silhouette": silhouette}
        if previous is not None:
            row["agreement_previous"] = float(adjusted_rand_score(previous, labels))
        if labelled:  # reported only: ground truth never reaches training or selection
            assign = dict(zip(self.train_ids, labels.tolist(), strict=True))
            row.update(clustering_metrics(assign, self.ds.annotations, video_ids=self.train_ids))
        return row

    def _train_on_clusters(
        self, r: int, labels: np.ndarray, video_ids: Sequence[str], warm: dict[str, torch.nn.Module] | None
    ) -> dict[str, torch.nn.Module]:
        """Round r's model(s), trained on ``video_ids`` with their clusters (``labels``, (N,)) as pseudo-labels."""
        index = {v: i for i, v in enumerate(self.train_ids)}
        targets, groups = cluster_targets(labels[[index[v] for v in video_ids]], self.num_clusters)
        return self.train(r, video_ids, targets, groups, previous=warm)

    def _save_attention(self, r: int, outputs: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        """S of round r's model(s) on the training videos, stored in the round: it pools round r + 1."""
        attention = self.attention_of(outputs)
        if self.run.is_main:
            save_attention(self.layout.attention_train(r), attention)
        return attention

    def _stop_after(self, r: int, row: dict[str, Any], selection: RoundSelection) -> bool:
        """Whether the rounds end after round r: its S is inverted, or ``patience`` rounds brought nothing better."""
        if row.get("inverted"):
            self.log.warning("round %d: S favours the shared background (inverted attention); stopping", r)
            return True
        selection.add(r, row)
        if selection.patience_spent(r):
            self.log.info("round %d: no better round for %d rounds; stopping", r, selection.patience)
            return True
        return False

    def _selected_result(
        self, rows: list[dict[str, Any]], selected: int, models: dict[str, torch.nn.Module]
    ) -> RunResult:
        """The selected round's models (``models``: the last round's) and clusters, also as ``RUN/clusters.json``."""
        cfg = self.cfg.pipeline
        self.log.info("selected round %d (select_round=%s, by %s)", selected, cfg.select_round, cfg.select_by)
        if selected != rows[-1]["round"]:
            models = {name: load_model(self.layout.model_file(selected, name))[0] for name, _ in self.models}
        assign = read_clusters(self.layout.round_clusters(selected))
        if self.run.is_main:
            write_clusters(self.layout.clusters, assign)
        return RunResult(
            final_round=selected,
            models=models,
            class_names=[str(c) for c in range(self.num_clusters)],
            clusters=assign,
            rounds=rows,
            selected_round=selected,
        )

    def _write_final(self, result: RunResult) -> None:
        """``RUN/final.json``: supervision, class names and the final model files (relative to the run)."""
        if not self.run.is_main:
            return
        models = {
            name: str(self.layout.model_file(result.final_round, name).relative_to(self.layout.root))
            for name, _ in self.models
        }
        final = {"supervision": self.cfg.pipeline.supervision, "class_names": result.class_names, "models": models}
        write_json(self.layout.final, final)

    def _detect_test(self, result: RunResult) -> dict[str, list[dict]]:
        """Detections of the final model(s) on the test videos, written as ``RUN/detections_test.json``."""
        outputs = self.export(result.models, self.test_ids, result.final_round, "test")
        with stage_timer(self.timings, "detection"):
            detections = detect_outputs(outputs, self.ds, self.test_ids, result.class_names, self.cfg)
        write_detections(self.layout.detections_test, detections)
        return detections

    def _distinctiveness(self) -> dict[str, np.ndarray]:
        """(T,) distinctiveness of every training video's snippets, as the clustering sees them."""
        streams = tuple(self.cfg.pipeline.streams)
        c = self.cfg.cluster
        return {
            vid: distinctiveness(joint_snippets(self.ds, vid, streams, self.norm, c.center)) for vid in self.train_ids
        }

    def _model_signals(
        self,
        outputs: dict[str, Any],
        attention: dict[str, dict[str, np.ndarray]],
        labels: np.ndarray,
        held: Sequence[str],
        distinct: dict[str, np.ndarray] | None,
        labelled: bool,
    ) -> dict[str, Any]:
        """Signals of a round's trained model(s): held-out predictability, the attention guard, and (reported
        only, from labels) the action/background ratio of S."""
        out: dict[str, Any] = {}
        shared = _shared_attention(attention, self.train_ids)
        if held:
            index = {v: i for i, v in enumerate(self.train_ids)}
            logp = {v: sum(np.log(np.maximum(o[v]["probs"], 1e-12)) for o in outputs.values()) for v in held}
            out["heldout_accuracy"] = float(np.mean([np.argmax(logp[v]) == labels[index[v]] for v in held]))
        if distinct is not None:
            corr = signals.attention_distinctiveness(shared, distinct)
            out["attention_distinctiveness"] = corr
            out["inverted"] = corr < 0
        if labelled:
            timing = self.ds.timing
            ratios = [
                signals.attention_ratio(s, timing.segment_mask(self.ds.annotation(v).segments, len(s)))
                for v, s in shared.items()
            ]
            ratios = [x for x in ratios if x is not None]
            if ratios:
                out["attention_ratio"] = float(np.median(ratios))
        return out

    def evaluate(self, detections: dict[str, list[dict]], assign: dict[str, int] | None) -> dict[str, Any]:
        tious = list(self.cfg.pipeline.tiou_thresholds)
        kw = dict(tiou_thresholds=tious, video_ids=self.test_ids)
        if self.cfg.pipeline.supervision == "weak":
            return {"weak": run_evaluation(self.ds.annotations, detections, **kw).detection.to_json()}
        arrays = detections_to_arrays(detections)  # converted once for both mappings
        return {
            method: run_evaluation(
                self.ds.annotations, arrays, train_assignments=assign, mapping=method, **kw
            ).detection.to_json()
            for method in ("soft", "hungarian")
        }


def _shared_attention(attention: dict[str, dict[str, np.ndarray]], video_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """One (T,) S per video: the shared one, or the geometric mean of the per-stream ones."""
    if SHARED in attention:
        return dict(attention[SHARED])
    return {v: geometric_attention([per_video[v] for per_video in attention.values()]) for v in video_ids}


def geometric_attention(attentions: Sequence[np.ndarray]) -> np.ndarray:
    """Normalised geometric mean of K attention curves over the same T snippets: (K x (T,)) -> (T,) summing to 1.

    High only where every stream attends, so one stream's attention to the scene is damped by the other's.
    """
    log = np.mean([np.log(np.maximum(a.astype(np.float64), 1e-12)) for a in attentions], axis=0)
    w = np.exp(log - log.max())
    return (w / w.sum()).astype(np.float32)


def _model_streams(name: str, streams: tuple[str, ...]) -> str | tuple[str, ...]:
    """The ``stream`` argument of training/export: a joint model takes the tuple, a per-stream model its name."""
    return streams if name == "joint" else streams[0]


def detect_outputs(
    outputs: dict[str, Any],
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    class_names: Sequence[str],
    config: Config,
) -> dict[str, list[dict[str, Any]]]:
    """Detections from exported model outputs (``{model name: {vid: arrays}}``)."""
    det_cfg = config.detect
    if config.pipeline.stream_models == "joint":  # one model, nothing to fuse
        det_cfg = dataclasses.replace(det_cfg, stream_weights={"joint": 1.0})
    return detect(
        outputs,
        timing=dataset.timing,
        durations={v: dataset.annotation(v).duration for v in video_ids},
        class_names=class_names,
        config=det_cfg,
    )


def _fmt(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


# Set by the run itself, not by the user: each model's input dim (from the features), C (from the clustering or
# the classes) and each model's training seed (from pipeline.seed, the round and the model).
DERIVED = (("model", "in_dim"), ("model", "num_classes"), ("train", "seed"))


def _as_run(config: Config) -> dict[str, Any]:
    """The config to write as ``RUN/config.yaml``: without the DERIVED keys, which a set value would misstate."""
    defaults, out = Config().to_dict(), config.to_dict()
    for section, key in DERIVED:
        if out[section][key] != defaults[section][key]:
            raise ConfigError(
                f"{section}.{key}={out[section][key]!r} is set by the run itself (features, clusters, pipeline.seed); "
                "remove it"
            )
        del out[section][key]
    return out


# What a run written before a key existed did: its config.yaml lacks the key, and behaved as this value.
LEGACY_VALUES: dict[tuple[str, str], Any] = {
    ("train", "precision"): "float32",
    ("data", "normalize"): "none",
    ("cluster", "pooling"): "mean",
    ("cluster", "top_fraction"): 0.3,
    ("cluster", "codebook_size"): 64,
    ("cluster", "center"): False,
    ("pipeline", "select_round"): "last",
    ("pipeline", "select_by"): "silhouette",
    ("pipeline", "patience"): 0,
    ("pipeline", "core_fraction"): 1.0,
    ("pipeline", "heldout_fraction"): 0.0,
    ("pipeline", "attention_guard"): False,
}


def _training_part(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that determine clusters and models; detection and evaluation settings may change on a rerun."""
    out = {k: dict(v) for k, v in config.items() if k != "detect"}
    out["pipeline"].pop("tiou_thresholds", None)
    for section, key in DERIVED:  # runs written before these keys were dropped
        out.get(section, {}).pop(key, None)
    for (section, key), value in LEGACY_VALUES.items():
        out.setdefault(section, {}).setdefault(key, value)
    return out


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')} ({a!r} there, {b!r} now)"]


def fit(
    data: str | os.PathLike,
    run_dir: str | os.PathLike,
    config: Config,
    *,
    progress: bool = True,
    argv: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the pipeline on a native-layout dataset; returns (and writes) ``RUN/metrics.json``.

    Resumes when ``run_dir`` holds an earlier run of the same configuration; refuses a different one, except
    that detection and evaluation settings may change: a rerun then only re-detects and re-evaluates.
    ``overwrite`` deletes an earlier run in ``run_dir`` first (only one cotal made, under the run's lock).
    """
    run_dir = Path(run_dir)
    resolved = _as_run(config)
    existing = RunLayout(run_dir).config
    dataset = FeatureDataset(data)  # bad data fails before the run folder is touched
    with run_folder(run_dir, inputs=[data], main=dist_info().rank == 0, overwrite=overwrite):
        if existing.exists():
            earlier = rename_legacy_keys(read_yaml(existing) or {}, str(existing))  # runs before a key's rename
            diff = _differences(_training_part(earlier), _training_part(resolved))
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
            return pipe.run_all()
        finally:
            pipe.run.detach_log()  # later runs in this process must not write into this run's log.txt


def detect_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike,
    *,
    subset: str | None = None,
    video_ids: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Detections of a finished run's final model(s) on any videos of a dataset (annotations may be empty)."""
    from cotal.config import load_config

    run_dir = Path(run_dir)
    layout = RunLayout(run_dir)
    if not layout.final.exists():
        raise DataError(f"{run_dir}: no {layout.final.name}; is this a finished `cotal fit` run directory?")
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
    for name, streams in model_inputs(config, dataset):
        model, _ = load_model(path_inside(run_dir, final["models"].get(name), layout.final))
        dims = {s: dataset.feature_dim(s) for s in streams}
        if sum(dims.values()) != model.config.in_dim:  # said in features, before any shape error of the model
            raise DataError(
                f"{data}: the run's {name} model was trained on {model.config.in_dim}-d features, but this dataset's "
                f"{' + '.join(f'{s} features are {d}-d' for s, d in dims.items())}; use the dataset the run was "
                "trained on, or features extracted the same way"
            )
        outputs[name] = export_outputs(model, dataset, ids, _model_streams(name, streams))
    return detect_outputs(outputs, dataset, ids, final["class_names"], config)
