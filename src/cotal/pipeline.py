"""The whole method end to end: cluster -> train co-attention models -> re-pool and re-cluster -> detect -> evaluate.

Rounds (unsupervised mode, ``pipeline.rounds = R``)::

    clusters_0 = spectral(mean-pooled descriptors of the training videos)
    for r in 1..R:
        model_r   = fresh co-attention model(s) trained on clusters_{r-1} as pseudo-labels
        if r < R: clusters_r = spectral(descriptors pooled with model_r's class-agnostic attention S)
    detections = detect(model_R on the test videos)        # labels are clusters_{R-1} ids

So R rounds train R models and cluster R times; the detection labels refer to the clusters the final model was
trained on, which is what ``RUN/clusters.json`` holds. Ground truth is read only for reporting (per-round
purity/ARI/NMI, test mAP) and to map clusters to classes with the training videos' labels; it never reaches
training or model selection. In weak mode the single model is trained on the training videos' video-level
labels instead.

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
from cotal.config import Config
from cotal.data import FeatureDataset
from cotal.data.attention import SHARED, load_attention, save_attention
from cotal.data.fingerprint import check_run_data
from cotal.data.normalize import Normalization, fit_normalization, load_normalization, save_normalization
from cotal.detect import detect
from cotal.errors import ConfigError, DataError
from cotal.evaluate import apply_mapping, build_mapping, clustering_metrics, evaluate_detections
from cotal.evaluate.formats import read_clusters, write_clusters, write_detections
from cotal.train import export_outputs, label_targets, load_model, load_outputs, save_outputs, train_model
from cotal.train.distributed import all_gather_objects, barrier, dist_info
from cotal.utils.io import read_json, read_yaml, write_json
from cotal.utils.outdir import path_inside, run_folder
from cotal.utils.run import RunDir, get_logger, stage_timer
from cotal.utils.seed import seed_everything

FINAL = "final.json"


def model_inputs(config: Config, dataset: FeatureDataset) -> list[tuple[str, tuple[str, ...]]]:
    """(name, input streams) of each model a round trains: one per stream (late fusion) or one joint model."""
    streams = tuple(config.pipeline.streams)
    missing = [s for s in streams if s not in dataset.streams]
    if missing:
        raise ConfigError(
            f"pipeline.streams asks for {', '.join(missing)} but {dataset.root} has only {', '.join(dataset.streams)}"
        )
    if config.pipeline.fusion == "joint":
        return [("joint", streams)]
    return [(s, (s,)) for s in streams]


def video_label_targets(dataset: FeatureDataset, video_ids: Sequence[str]) -> tuple[np.ndarray, list[list[int]]]:
    """Ground-truth video-level targets (weak supervision): (N, C) distributions and class ids per video."""
    index = {c: i for i, c in enumerate(dataset.classes)}
    groups = [[index[lab] for lab in dataset[vid].video_labels] for vid in video_ids]
    for vid, labels in zip(video_ids, groups, strict=True):
        if not labels:
            raise DataError(f"{dataset.root}: training video {vid!r} has no labels; weak supervision needs them")
    return label_targets(groups, len(index)), groups


def cluster_targets(labels: np.ndarray, num_clusters: int) -> tuple[np.ndarray, list[list[int]]]:
    """One-hot pseudo-label targets (N, C) and the cluster of each video."""
    groups = [[int(c)] for c in labels]
    return label_targets(groups, num_clusters), groups


def has_labels(dataset: FeatureDataset, video_ids: Sequence[str]) -> bool:
    return any(len(dataset[v].labels) for v in video_ids)


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
        self.progress = progress
        self.log = get_logger()
        self.timings: dict[str, float] = {}
        self.num_clusters: int | None = None
        self.models = model_inputs(config, dataset)
        self.train_ids = dataset.train_ids
        self.test_ids = dataset.test_ids
        if len(self.train_ids) < 2:
            raise DataError(f"{dataset.root}: subset {dataset.meta.train_subset!r} has {len(self.train_ids)} videos")

    # -- stages -----------------------------------------------------------------------------------
    def normalization(self) -> Normalization:
        """The run's input standardisation, fitted on the training videos once and stored in the run."""
        path = self.run.path / "normalization.npz"
        if path.exists():
            return load_normalization(path)
        norm = fit_normalization(self.ds, self.train_ids, tuple(self.cfg.pipeline.streams), self.cfg.data.normalize)
        if self.run.is_main:
            save_normalization(path, norm)
        barrier()
        return norm

    def round0_attention(self) -> dict[str, dict[str, np.ndarray]] | None:
        """Label-free snippet weights of the first clustering (None: the paper's mean pooling)."""
        c = self.cfg.cluster
        path = self.run.path / "round0_weights.npz"
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

    def cluster(
        self, round_dir: Path, attention: dict[str, dict[str, np.ndarray]] | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Cluster the training videos (pooled with ``attention``, mean pooling when None).

        Returns the (N,) cluster of each training video and the clustering's label-free signals
        (``silhouette`` and per-video ``confidence``).
        """
        path, info_path = round_dir / "clusters.json", round_dir / "clustering.json"
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
        fraction = cfg.core_fraction + (1 - cfg.core_fraction) * (r - 1) / max(cfg.rounds - 1, 1)
        keep = signals.core_videos(labels, np.asarray(confidence), fraction)
        held = np.zeros(len(labels), dtype=bool)
        if cfg.heldout_fraction > 0:
            rng = np.random.default_rng([cfg.seed, 7919, r])
            held[rng.permutation(len(labels))[: max(1, round(cfg.heldout_fraction * len(labels)))]] = True
        ids = np.asarray(self.train_ids)
        return ids[keep & ~held].tolist(), ids[held].tolist()

    def train(
        self,
        round_dir: Path,
        video_ids: Sequence[str],
        targets: np.ndarray,
        groups: list[list[int]],
        round_index: int,
        previous: dict[str, torch.nn.Module] | None = None,
    ) -> dict[str, torch.nn.Module]:
        """Train one model per input (stream or joint) on ``video_ids`` with ``targets`` (one row per video):
        fresh, or from ``previous`` (warm start)."""
        models = {}
        for name, streams in self.models:
            out_dir = round_dir / f"model_{name}"
            dims = [self.ds.feature_dim(s) for s in streams]
            in_dim = sum(dims)
            norm = self.norm.affine(streams, dims) if self.norm.streams else None
            mcfg = dataclasses.replace(self.cfg.model, in_dim=in_dim, num_classes=targets.shape[1])
            # Different seeds per round and stream so the rounds are not copies of one initialisation.
            tcfg = dataclasses.replace(
                self.cfg.train, seed=self.cfg.pipeline.seed * 1000 + round_index * 10 + len(models)
            )
            self.log.info(
                "round %d: training %s model on %d videos, %d classes",
                round_index,
                name,
                len(targets),
                targets.shape[1],
            )
            with stage_timer(self.timings, "training"):
                if (out_dir / "model.pt").exists():
                    models[name], _ = load_model(out_dir / "model.pt")
                else:
                    models[name] = train_model(
                        self.ds,
                        video_ids,
                        targets,
                        groups,
                        stream=_model_streams(name, streams),
                        model_config=mcfg,
                        loss_config=self.cfg.loss,
                        train_config=tcfg,
                        run_dir=out_dir,
                        resume=True,
                        progress=f"round {round_index}, {name} model" if self.progress else False,
                        init_state=previous[name].state_dict() if previous else None,
                        input_normalization=norm,
                    )
        return models

    def export(self, models: dict[str, torch.nn.Module], video_ids: Sequence[str], cache: Path) -> dict[str, Any]:
        """Full-length outputs of every model on ``video_ids``, cached as ``str(cache).format(model name)``."""
        outputs = {}
        for name, streams in self.models:
            path = Path(str(cache).format(name))
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

    # -- the whole run ----------------------------------------------------------------------------
    def run_all(self) -> dict[str, Any]:
        """Normalise, then the weak or the unsupervised path, then detect and evaluate the final model(s)."""
        cfg = self.cfg.pipeline
        self.norm = self.normalization()
        if cfg.supervision == "weak":
            final_dir, models, class_names, assign, round_metrics, selected = self._run_weak()
        else:
            final_dir, models, class_names, assign, round_metrics, selected = self._run_unsupervised()
        if self.run.is_main:
            write_json(
                self.run.path / FINAL,
                {
                    "supervision": cfg.supervision,
                    "class_names": list(class_names),
                    "models": {
                        name: str((final_dir / f"model_{name}" / "model.pt").relative_to(self.run.path))
                        for name, _ in self.models
                    },
                },
            )
        metrics: dict[str, Any] = {"supervision": cfg.supervision, "rounds": round_metrics}
        if selected is not None:
            metrics["selected_round"] = selected
        if self.run.is_main and self.test_ids:
            outputs = self.export(models, self.test_ids, final_dir / "outputs_test_{}.npz")
            with stage_timer(self.timings, "detection"):
                detections = detect_outputs(outputs, self.ds, self.test_ids, class_names, self.cfg)
            write_detections(self.run.path / "detections_test.json", detections)
            if has_labels(self.ds, self.test_ids):
                with stage_timer(self.timings, "evaluation"):
                    metrics["detection"] = self.evaluate(detections, assign)
        metrics["timings_s"] = {k: round(v, 2) for k, v in self.timings.items()}
        if self.run.is_main:
            write_json(self.run.path / "metrics.json", metrics)
        return metrics

    def _run_weak(self) -> tuple[Path, dict[str, torch.nn.Module], list[str], None, list, None]:
        """One model per input trained on the training videos' ground-truth video-level labels."""
        labelled = [v for v in self.train_ids if self.ds[v].video_labels]
        if not labelled:
            raise DataError(f"{self.ds.root}: no training video has labels; weak supervision needs them")
        if len(labelled) < len(self.train_ids):  # e.g. ActivityNet training videos without segments
            self.log.warning(
                "weak supervision: %d training videos have no labels and are left out",
                len(self.train_ids) - len(labelled),
            )
        targets, groups = video_label_targets(self.ds, labelled)
        final_dir = self.run.path / "round_1"
        models = self.train(final_dir, labelled, targets, groups, 1)
        self.export(models, self.train_ids, final_dir / "outputs_train_{}.npz")
        return final_dir, models, list(self.ds.classes), None, [], None

    def _run_unsupervised(self) -> tuple[Path, dict[str, torch.nn.Module], list[str], dict[str, int], list, int]:
        """Rounds of cluster -> train -> re-pool with S, with label-free signals and round selection."""
        cfg = self.cfg.pipeline
        labelled = has_labels(self.ds, self.train_ids)
        attention = self.round0_attention()
        distinct = self._distinctiveness() if cfg.attention_guard else None
        rows: list[dict[str, Any]] = []
        models: dict[str, torch.nn.Module] = {}
        previous: np.ndarray | None = None
        best: tuple[float, int] | None = None  # (score, round)
        for r in range(1, cfg.rounds + 1):
            round_dir = self.run.path / f"round_{r}"
            labels, info = self.cluster(round_dir, attention)
            row: dict[str, Any] = {"round": r - 1, "num_clusters": self.num_clusters}
            row["silhouette"] = info["silhouette"]
            if previous is not None:
                row["agreement_previous"] = float(adjusted_rand_score(previous, labels))
            if labelled:  # reported only: ground truth never reaches training or selection
                assign = dict(zip(self.train_ids, labels.tolist(), strict=True))
                row.update(clustering_metrics(assign, self.ds.annotations, video_ids=self.train_ids))
            train_ids, held = self.round_videos(r, labels, info["confidence"])
            index = {v: i for i, v in enumerate(self.train_ids)}
            targets, groups = cluster_targets(labels[[index[v] for v in train_ids]], self.num_clusters)
            warm = models if cfg.warm_start and r > 1 else None
            models = self.train(round_dir, train_ids, targets, groups, r, previous=warm)
            # Every round exports S of all training videos (the last round's is kept for users).
            outputs = self.export(models, self.train_ids, round_dir / "outputs_train_{}.npz")
            attention = self.attention_of(outputs)
            if self.run.is_main:
                save_attention(round_dir / "attention_train.npz", attention)
            row["trained_on"] = len(train_ids)
            row.update(self._model_signals(outputs, attention, labels, held, distinct, labelled))
            rows.append(row)
            self.log.info("round %d (clustering %d): %s", r, r - 1, _fmt(row))
            score = row.get("silhouette" if cfg.select_by == "silhouette" else "heldout_accuracy")
            if row.get("inverted"):
                self.log.warning("round %d: S favours the shared background (inverted attention); stopping", r)
                break
            if score is not None and (best is None or score > best[0]):
                best = (score, r)
            if cfg.select_round == "best" and cfg.patience and best is not None and r - best[1] >= cfg.patience:
                self.log.info("round %d: no better round for %d rounds; stopping", r, cfg.patience)
                break
            previous = labels
        valid = [row["round"] + 1 for row in rows if not row.get("inverted")] or [rows[-1]["round"] + 1]
        selected = best[1] if cfg.select_round == "best" and best is not None else valid[-1]
        self.log.info("selected round %d (select_round=%s, by %s)", selected, cfg.select_round, cfg.select_by)
        final_dir = self.run.path / f"round_{selected}"
        if selected != rows[-1]["round"] + 1:
            models = {name: load_model(final_dir / f"model_{name}" / "model.pt")[0] for name, _ in self.models}
        assign = read_clusters(final_dir / "clusters.json")
        if self.run.is_main:
            write_clusters(self.run.path / "clusters.json", assign)
        return final_dir, models, [str(c) for c in range(self.num_clusters)], assign, rows, selected

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
                signals.attention_ratio(s, timing.segment_mask(self.ds[v].segments, len(s))) for v, s in shared.items()
            ]
            ratios = [x for x in ratios if x is not None]
            if ratios:
                out["attention_ratio"] = float(np.median(ratios))
        return out

    def evaluate(self, detections: dict[str, list[dict]], assign: dict[str, int] | None) -> dict[str, Any]:
        tious = list(self.cfg.pipeline.tiou_thresholds)
        kw = dict(tiou_thresholds=tious, video_ids=self.test_ids)
        if assign is None:
            return {"weak": evaluate_detections(self.ds.annotations, detections, **kw).to_json()}
        out = {}
        for method in ("soft", "hungarian"):
            mapping = build_mapping(assign, self.ds.annotations, method=method)
            out[method] = evaluate_detections(self.ds.annotations, apply_mapping(detections, mapping), **kw).to_json()
        return out


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
    if config.pipeline.fusion == "joint":  # one model, nothing to fuse
        det_cfg = dataclasses.replace(det_cfg, stream_weights={"joint": 1.0})
    return detect(
        outputs,
        timing=dataset.timing,
        durations={v: dataset[v].duration for v in video_ids},
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
) -> dict[str, Any]:
    """Run the pipeline on a native-layout dataset; returns (and writes) ``RUN/metrics.json``.

    Resumes when ``run_dir`` holds an earlier run of the same configuration; refuses a different one, except
    that detection and evaluation settings may change: a rerun then only re-detects and re-evaluates.
    """
    run_dir = Path(run_dir)
    resolved = _as_run(config)
    existing = run_dir / "config.yaml"
    dataset = FeatureDataset(data)  # bad data fails before the run folder is touched
    with run_folder(run_dir, inputs=[data], main=dist_info().rank == 0):
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
    if not (run_dir / FINAL).exists():
        raise DataError(f"{run_dir}: no {FINAL}; is this a finished `cotal fit` run directory?")
    final = read_json(run_dir / FINAL)
    if (
        not isinstance(final, dict)
        or not isinstance(final.get("models"), dict)
        or not isinstance(final.get("class_names"), list)
    ):
        raise DataError(f"{run_dir / FINAL}: malformed; expected an object with 'models' and 'class_names'")
    config = load_config(run_dir / "config.yaml")
    dataset = FeatureDataset(data)
    ids = list(video_ids) if video_ids is not None else dataset.video_ids(subset)
    if not ids:
        raise DataError(f"{data}: no videos" + (f" in subset {subset!r}" if subset else ""))
    outputs = {}
    for name, streams in model_inputs(config, dataset):
        model, _ = load_model(path_inside(run_dir, final["models"].get(name), run_dir / FINAL))
        outputs[name] = export_outputs(model, dataset, ids, _model_streams(name, streams))
    return detect_outputs(outputs, dataset, ids, final["class_names"], config)
