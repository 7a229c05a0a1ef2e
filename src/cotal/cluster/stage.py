"""The clustering stage as one call: descriptors of the videos -> spectral clustering -> label-free signals.

``cotal fit`` runs it in every round and ``cotal cluster`` runs it alone, with the same settings (the ``cluster``
section of a config, the streams, C and the seed), so the command reproduces a run's round-0 clustering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cotal.cluster import signals
from cotal.cluster.config import Solver
from cotal.cluster.descriptors import video_descriptors
from cotal.cluster.spectral import SpectralVideoClustering
from cotal.cluster.weights import SnippetWeights
from cotal.data.dataset import FeatureDataset
from cotal.data.normalize import Normalization
from cotal.errors import DataError
from cotal.utils.run import get_logger


@dataclass(frozen=True)
class Clustering:
    """A clustering of N videos and its label-free signals.

    Attributes:
        video_ids: the N videos, in the order of the arrays.
        labels: (N,) int64 cluster of each video, in [0, n_clusters).
        n_clusters: C (estimated when asked for "auto").
        silhouette: cosine silhouette of the descriptors under ``labels`` (None when undefined).
        confidence: (N,) margin of each video's cluster in the spectral embedding, in [-1, 1].
        eigenvalues: (K,) smallest eigenvalues of the graph's normalised Laplacian, ascending (the eigengap
            curve; K >= C).
        solver: the affinity graph that ran, "dense" or "sparse".
        sigma: the width of the Gaussian affinity (docs/method.md eq. 5).
        auto_scores: when C was estimated, the silhouette of every C tried (``{C: score}``); else None.
    """

    video_ids: tuple[str, ...]
    labels: np.ndarray
    n_clusters: int
    silhouette: float | None
    confidence: np.ndarray
    eigenvalues: np.ndarray
    solver: str
    sigma: float
    auto_scores: dict[int, float] | None = None

    def info(self) -> dict[str, Any]:
        """Everything but the labels, as JSON-able values (``RUN/round_<r>/clustering.json``)."""
        return {
            "num_clusters": self.n_clusters,
            "silhouette": self.silhouette,
            "confidence": self.confidence.tolist(),
            "eigenvalues": self.eigenvalues.tolist(),
            "solver": self.solver,
            "sigma": self.sigma,
            "auto_scores": None if self.auto_scores is None else {str(k): v for k, v in self.auto_scores.items()},
        }

    @classmethod
    def from_info(cls, video_ids: Sequence[str], assignments: Mapping[str, int], info: Any, where: str) -> Clustering:
        """The clustering of ``video_ids`` stored as ``assignments`` and :meth:`info`; DataError naming ``where``."""
        missing = [v for v in video_ids if v not in assignments]
        keys = ("num_clusters", "silhouette", "confidence", "eigenvalues", "solver", "sigma", "auto_scores")
        if missing or not isinstance(info, dict) or any(k not in info for k in keys):
            raise DataError(f"{where}: not a clustering of these videos written by this cotal")
        return cls(
            video_ids=tuple(video_ids),
            labels=np.array([assignments[v] for v in video_ids], dtype=np.int64),
            n_clusters=int(info["num_clusters"]),
            silhouette=info["silhouette"],
            confidence=np.asarray(info["confidence"], dtype=np.float64),
            eigenvalues=np.asarray(info["eigenvalues"], dtype=np.float64),
            solver=str(info["solver"]),
            sigma=float(info["sigma"]),
            auto_scores=None
            if info.get("auto_scores") is None
            else {int(k): v for k, v in info["auto_scores"].items()},
        )

    def assignments(self) -> dict[str, int]:
        """``{video_id: cluster}`` (the format of :func:`cotal.evaluate.formats.write_clusters`)."""
        return dict(zip(self.video_ids, self.labels.tolist(), strict=True))


def cluster_videos(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    *,
    n_clusters: int | Literal["auto"],
    streams: Sequence[str],
    normalization: Normalization | None,
    center: bool,
    weights: SnippetWeights | None,
    solver: Solver = "auto",
    seed: int = 0,
) -> Clustering:
    """Cluster ``video_ids`` into ``n_clusters`` (docs/method.md §3-4).

    Args:
        dataset: the features.
        video_ids: the N videos to cluster.
        n_clusters: C, or "auto" to estimate it (:func:`cotal.cluster.spectral.silhouette_clusters`).
        streams: the streams whose descriptors are concatenated.
        normalization: the run's input standardisation (None: raw features).
        center: centre each video's snippets on its median snippet (:mod:`cotal.cluster.choices`).
        weights: the (T,) snippet weights that pool each video (round 0's label-free weights or a previous
            round's attention S); None: mean pooling.
        solver: the affinity graph (``cluster.solver``).
        seed: seeds the eigensolver start, k-means and the silhouette's sample.
    """
    x = video_descriptors(dataset, video_ids, weights, streams, normalization=normalization, center=center)
    est = SpectralVideoClustering(n_clusters=n_clusters, solver=solver, random_state=seed)
    labels = est.fit_predict(x)
    if est.auto_scores_ is not None:
        best = est.auto_scores_[est.n_clusters_]
        get_logger().info(
            "clusters auto: C=%d has the highest silhouette (%.3f) of C in %d..%d",
            est.n_clusters_,
            best,
            min(est.auto_scores_),
            max(est.auto_scores_),
        )
    return Clustering(
        video_ids=tuple(video_ids),
        labels=labels,
        n_clusters=int(est.n_clusters_),
        silhouette=signals.silhouette(x, labels, seed=seed),
        confidence=signals.embedding_margin(est.embedding_, labels).round(6),
        eigenvalues=est.eigenvalues_,
        solver=est.solver_,
        sigma=float(est.affinity_sigma_),
        auto_scores=est.auto_scores_,
    )
