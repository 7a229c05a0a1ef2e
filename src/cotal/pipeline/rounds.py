"""The two ways a run trains its final models: co-attention rounds on clusters, or one round on video labels.

Unsupervised (docs/method.md §7), rounds numbered from 0::

    for r in 0..R-1:
        clusters_r = spectral clustering of the training videos pooled with
                     round 0: the label-free round-0 weights; round r > 0: round r-1's attention S
        models_r   = a fresh model per stream trained on clusters_r as pseudo-labels
        signals of round r; an inverted S ends the rounds
    the selected round's models detect; their labels are the ids of its clusters (``RUN/clusters.json``)

Ground truth is read only to report (per-round purity, the attention's action/background ratio) and never reaches
training or the round selection. Weakly supervised: one model per stream, trained on the training videos'
video-level labels, in round 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cotal.cluster import signals
from cotal.cluster.descriptors import distinctiveness, joint_snippets
from cotal.cluster.stage import Clustering
from cotal.cluster.weights import SnippetWeights, consensus_attention
from cotal.data import FeatureDataset
from cotal.errors import DataError
from cotal.evaluate import clustering_metrics
from cotal.evaluate.formats import write_clusters
from cotal.model import CoAttentionModel, load_model
from cotal.pipeline.selection import FLAT_SUPPORT, RoundSelection, usable
from cotal.pipeline.stages import Pipeline
from cotal.train import label_targets


@dataclass
class RunResult:
    """What the weak or the unsupervised path hands on to detection and evaluation.

    Attributes:
        final_round: the round whose models detect.
        models: the final model of each stream.
        class_names: C names of the models' classes (cluster ids "0".."C-1", or the ground-truth classes).
        clusters: unsupervised: the cluster of every training video in the final round; weak: None.
        rounds: one ``metrics.json`` row per round (unsupervised; empty for weak supervision).
        selected_round: the round ``pipeline.select_round`` kept (unsupervised; None for weak supervision).
        selection: the rule and, for "consensus", each candidate clustering's mean agreement (unsupervised).
    """

    final_round: int
    models: dict[str, CoAttentionModel]
    class_names: list[str]
    clusters: dict[str, int] | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    selected_round: int | None = None
    selection: dict[str, Any] | None = None


def has_labels(dataset: FeatureDataset, video_ids: Sequence[str]) -> bool:
    return any(len(dataset.annotation(v).labels) for v in video_ids)


def run_weak(pipe: Pipeline) -> RunResult:
    """One model per stream trained on the training videos' ground-truth video-level labels, in round 0."""
    ds = pipe.ds
    labelled = [v for v in pipe.train_ids if ds.annotation(v).video_labels]
    if not labelled:
        raise DataError(f"{ds.root}: no training video has labels; weak supervision needs them")
    if len(labelled) < len(pipe.train_ids):  # e.g. ActivityNet training videos without segments
        pipe.log.warning(
            "weak supervision: %d training videos have no labels and are left out", len(pipe.train_ids) - len(labelled)
        )
    index = {c: i for i, c in enumerate(ds.classes)}
    groups = [[index[lab] for lab in ds.annotation(vid).video_labels] for vid in labelled]
    models = pipe.train(0, labelled, label_targets(groups, len(index)), groups)
    pipe.predict(models, pipe.train_ids, 0, "train")
    return RunResult(final_round=0, models=models, class_names=list(ds.classes))


def run_unsupervised(pipe: Pipeline) -> RunResult:
    """Rounds of cluster -> train -> attention -> signals, then the selected round's models and clusters."""
    labelled = has_labels(pipe.ds, pipe.train_ids)
    distinct = _distinctiveness(pipe)
    selection = RoundSelection(pipe.cfg.pipeline.select_round)
    weights: SnippetWeights | None = None
    previous: Clustering | None = None
    models: dict[str, CoAttentionModel] = {}
    for r in range(pipe.cfg.pipeline.rounds):
        clustering = pipe.cluster(r, weights)
        row = _clustering_row(pipe, r, clustering, previous, labelled)
        if r == 0 and pipe.cfg.cluster.center == "auto":
            scores = pipe.center_alternative(clustering)
            chosen, other = ("centred", "not centred") if pipe.center.center else ("not centred", "centred")
            both = {chosen: scores["silhouette"], other: scores["alternative_silhouette"]}
            pipe.log.info("round 0 silhouette (reported only: it does not decide): %s", _fmt(both))
        groups = [[int(c)] for c in clustering.labels]
        models = pipe.train(r, pipe.train_ids, label_targets(groups, clustering.n_clusters), groups)
        outputs = pipe.predict(models, pipe.train_ids, r, "train")
        weights = pipe.attention(r, outputs)
        row.update(_attention_signals(pipe, weights, distinct, labelled))
        pipe.log.info("round %d: %s", r, _fmt({k: v for k, v in row.items() if k != "round"}))
        if selection.add(row, clustering.labels):
            why = "favours the shared background (inverted)" if row["inverted"] else "is flat (it pools like the mean)"
            pipe.log.warning("round %d: S %s; stopping", r, why)
            break
        previous = clustering
    following = None
    if selection.select_round == "consensus" and usable(selection.rows[-1]):
        following = pipe.cluster(selection.rows[-1]["round"] + 1, weights).labels  # no model is trained on it
    selected = selection.selected(following)
    agreement = "".join(f"; round {r}: mean ARI {a:.3f}" for r, a in selection.agreement.items())
    pipe.log.info("selected round %d (select_round=%s%s)", selected, selection.select_round, agreement)
    if selected != selection.rows[-1]["round"]:
        models = {s: load_model(pipe.layout.model_file(selected, s))[0] for s in pipe.streams}
    final = pipe.cluster(selected)
    assign = final.assignments()
    if pipe.run.is_main:
        write_clusters(pipe.layout.clusters, assign)
    return RunResult(
        final_round=selected,
        models=models,
        class_names=[str(c) for c in range(final.n_clusters)],
        clusters=assign,
        rounds=selection.rows,
        selected_round=selected,
        selection={"rule": selection.select_round, "agreement": {str(k): v for k, v in selection.agreement.items()}},
    )


def _distinctiveness(pipe: Pipeline) -> dict[str, np.ndarray]:
    """(T,) distinctiveness of every training video's snippets, as the clustering sees them (the guard's input)."""
    norm, center = pipe.normalization, pipe.center.center
    return {v: distinctiveness(joint_snippets(pipe.ds, v, pipe.streams, norm, center)) for v in pipe.train_ids}


def _clustering_row(
    pipe: Pipeline, r: int, clustering: Clustering, previous: Clustering | None, labelled: bool
) -> dict[str, Any]:
    """Round r's ``metrics.json`` row so far: its clustering's signals (and, reported only, its purity)."""
    row: dict[str, Any] = {"round": r, "num_clusters": clustering.n_clusters, "silhouette": clustering.silhouette}
    if previous is not None:
        row["agreement_previous"] = float(adjusted_rand_score(previous.labels, clustering.labels))
    if labelled:  # reported only: ground truth never reaches training or selection
        row.update(clustering_metrics(clustering.assignments(), pipe.ds.annotations, video_ids=pipe.train_ids))
    return row


def _attention_signals(
    pipe: Pipeline, weights: SnippetWeights, distinct: dict[str, np.ndarray], labelled: bool
) -> dict[str, Any]:
    """Signals of a round's attention S, as the next round pools with it: the guard's rank correlation with
    snippet distinctiveness and S's effective support, and (reported only, from labels) S's action/background
    ratio."""
    attention = consensus_attention(weights, pipe.train_ids)
    corr = signals.attention_distinctiveness(attention, distinct)
    support = signals.attention_support(attention)
    out: dict[str, Any] = {
        "attention_distinctiveness": corr,
        "inverted": corr < 0,
        "attention_support": support,
        "flat": support > FLAT_SUPPORT,
    }
    if labelled:
        timing = pipe.ds.timing
        ratios = [
            signals.attention_ratio(s, timing.segment_mask(pipe.ds.annotation(v).segments, len(s)))
            for v, s in attention.items()
        ]
        ratios = [x for x in ratios if x is not None]
        if ratios:
            out["attention_ratio"] = float(np.median(ratios))
    return out


def _fmt(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
