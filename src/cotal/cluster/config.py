"""Settings of the clustering stage (the ``cluster`` section of a config); free of NumPy, SciPy and PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import check_choices, check_range

Pooling = Literal["mean", "distinctive"]
Solver = Literal["auto", "dense", "sparse"]


@dataclass
class ClusterConfig:
    """Spectral clustering of video descriptors (docs/method.md §3-4) and the label-free round-0 descriptor.

    ``cotal cluster`` and ``cotal fit`` read the same settings; :class:`cotal.cluster.SpectralVideoClustering`'s
    keyword defaults equal them (tests/test_config.py).

    Attributes:
        solver: "auto" (dense while the N x N affinity fits in memory, else a sparse k-NN graph), "dense" (the
            paper's graph over all pairs) or "sparse" (docs/method.md D11).
        pooling: snippet weights of the first clustering, before any model exists: "mean" (the paper) or
            "distinctive" (the ``top_fraction`` of each video's snippets farthest from its median snippet,
            docs/method.md D2).
        top_fraction: share of snippets kept by "distinctive" pooling.
        center: subtract each video's median snippet before pooling (removes per-video signatures), every round:
            True, False, or "auto" (default): centre when a large share of the snippet variance is constant within
            videos (:mod:`cotal.cluster.choices`, docs/clustering.md).
    """

    solver: Solver = "auto"
    pooling: Pooling = "distinctive"
    top_fraction: float = 0.3
    center: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        check_choices(self, "cluster")
        check_range(self, "cluster", ("top_fraction",), low=0, high=1, low_open=True)
