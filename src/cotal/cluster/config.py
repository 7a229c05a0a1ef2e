"""Settings of the clustering stage (the ``cluster`` section of a config); free of NumPy, SciPy and PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import check_choices, check_range

Pooling = Literal["mean", "distinctive", "idf"]
Solver = Literal["auto", "dense", "sparse"]


@dataclass
class ClusterConfig:
    """Spectral clustering of video descriptors (docs/method.md §3-4) and the label-free round-0 descriptor.

    ``cotal cluster`` reads its defaults from here; :class:`cotal.cluster.SpectralVideoClustering`'s keyword
    defaults equal them (tests/test_config.py).

    Attributes:
        solver: "auto" (dense while the N x N affinity fits, else sparse kNN), "dense" or "sparse".
        n_init: k-means restarts on the spectral embedding.
        n_neighbors: neighbours per video in the sparse kNN graph.
        pooling: snippet weights of the first clustering, before any model exists: "mean" (the paper),
            "distinctive" (the ``top_fraction`` of each video's snippets farthest from its median snippet) or
            "idf" (snippets weighted by how rare their codeword is across the training videos). Default
            "distinctive", chosen on the development suite (docs/benchmarks.md).
        top_fraction: share of snippets kept by "distinctive" pooling.
        codebook_size: codewords of "idf" pooling.
        center: subtract each video's median snippet before pooling (removes per-video signatures), every round.
            Off by default: it lifted the suite's datasets with per-video signatures (wearable sensors) and
            badly hurt the THUMOS14-like one, whose long actions fill much of their videos.
    """

    solver: Solver = "auto"
    n_init: int = 10
    n_neighbors: int = 30
    pooling: Pooling = "distinctive"
    top_fraction: float = 0.3
    codebook_size: int = 64
    center: bool = False

    def __post_init__(self) -> None:
        check_choices(self, "cluster")
        check_range(self, "cluster", ("n_init", "n_neighbors"), low=1, integer=True)
        check_range(self, "cluster", ("codebook_size",), low=2, integer=True)
        check_range(self, "cluster", ("top_fraction",), low=0, high=1, low_open=True)
