"""Wall time, peak memory and agreement of cotal's spectral video clustering at scale.

Data: a Gaussian mixture shaped like real two-stream video descriptors: N x (2 x half) float32, uneven cluster
sizes, each cluster anisotropic (a random rank-``rank`` subspace of strong variation plus isotropic noise), and
every ``half``-dim block L2-normalised, as ``video_descriptors`` returns for [rgb, flow].

Examples:
    .venv/bin/python benchmarks/cluster_scaling.py --n 100000 --clusters 200            # sparse path
    .venv/bin/python benchmarks/cluster_scaling.py --n 1000000 --dim 1024 --no-trace    # 1M videos
    .venv/bin/python benchmarks/cluster_scaling.py --n 10000 --clusters 50 --compare    # dense vs sparse ARI

Prints, per solver: the wall time and peak RSS after each stage of ``fit`` as it ends (sigma, kNN search, graph, degrees
and normalisation, eigenvectors, k-means; timed by wrapping the stage functions ``cotal.cluster.spectral``
calls), the whole fit's wall time, peak RSS (whole process, includes the data), tracemalloc peak of the fit
(numpy/python allocations; off with ``--no-trace``, which slows large runs), ARI against the generating labels,
the recall@k of the kNN graph against exact search on ``--recall-queries`` random rows (sparse path), and with
``--compare`` the ARI between the dense and sparse labels.
"""

from __future__ import annotations

import argparse
import functools
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cotal.cluster import SpectralVideoClustering
from cotal.cluster import spectral as spectral_module
from cotal.cluster.knn import knn_recall

# The stage functions of SpectralVideoClustering.fit, as named in cotal.cluster.spectral (a rename there fails here).
STAGES = {
    "dense_affinity": "affinity",
    "sampled_sigma": "sigma",
    "knn_search": "knn",
    "knn_affinity": "graph",
    "_normalise": "normalise",
    "_top_eigenpairs": "eigen",
    "_top_eigenpairs_by_component": "eigen",
    "_kmeans": "kmeans",
}


def make_descriptors(
    n: int, clusters: int, *, half: int = 1024, rank: int = 8, noise: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2*half) float32 descriptors and (N,) true labels.

    Per stream block: a direction shared by all videos (post-ReLU features are all positive, so real descriptors
    have a large common component; norm 1) + the cluster offset (norm 0.6) + a within-cluster rank-``rank``
    Gaussian (norm ~0.4, anisotropic) + isotropic noise (norm ~``noise``), then L2-normalised.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n, rng.dirichlet(np.full(clusters, 2.0)))
    x = np.empty((n, 2 * half), dtype=np.float32)
    y = np.repeat(np.arange(clusters), sizes)

    def unit(*shape: int) -> np.ndarray:
        v = rng.normal(size=shape)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    shared = [np.abs(unit(half)) for _ in range(2)]
    start = 0
    for m in sizes:
        for h in range(2):
            mu = shared[h] + 0.6 * unit(half)
            basis = unit(rank, half) * 0.4 / np.sqrt(rank)
            block = mu + rng.normal(size=(m, rank)) @ basis + rng.normal(scale=noise / np.sqrt(half), size=(m, half))
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            x[start : start + m, h * half : (h + 1) * half] = block
        start += m
    perm = rng.permutation(n)
    _permute_rows(x, perm)  # x[perm] without a second (N, D) copy
    return x, y[perm]


def _permute_rows(x: np.ndarray, perm: np.ndarray) -> None:
    """``x[:] = x[perm]`` in place, one cycle of the permutation at a time."""
    done = np.zeros(len(perm), dtype=bool)
    nxt = perm.tolist()
    for start in range(len(nxt)):
        if done[start]:
            continue
        first, j = x[start].copy(), start
        while nxt[j] != start:
            x[j] = x[nxt[j]]
            done[j] = True
            j = nxt[j]
        x[j] = first
        done[j] = True


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


class StageTimer:
    """Wraps the stage functions of ``cotal.cluster.spectral`` for one fit: wall seconds and peak RSS per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.rss: dict[str, float] = {}
        self.knn_idx: np.ndarray | None = None
        self._saved: dict[str, Callable[..., Any]] = {}
        self._inside = False

    def __enter__(self) -> StageTimer:
        for name, stage in STAGES.items():
            self._saved[name] = fn = getattr(spectral_module, name)
            setattr(spectral_module, name, self._wrap(fn, stage))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._saved.items():
            setattr(spectral_module, name, fn)

    def _wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._inside:  # a stage called by another (per-component eigenpairs): counted by the outer one
                return fn(*args, **kwargs)
            self._inside = True
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                self._inside = False
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0
            self.rss[stage] = _rss_gib()
            total = self.seconds[stage]
            print(f"  stage {stage:<9} {total:7.1f}s  peak_rss_after={self.rss[stage]:.2f}GiB", flush=True)
            if stage == "knn":
                self.knn_idx = out[1]
            return out

        return timed


def run(
    x: np.ndarray, y: np.ndarray, clusters: int, solver: str, n_init: int, knn: str, trace: bool, recall_queries: int
) -> np.ndarray:
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    with StageTimer() as timer:
        model = SpectralVideoClustering(n_clusters=clusters, solver=solver, n_init=n_init, knn=knn).fit(x)
    wall = time.perf_counter() - t0
    traced = f"{tracemalloc.get_traced_memory()[1] / 2**30:.2f}GiB" if trace else "off"
    tracemalloc.stop()
    recall = "-"
    if timer.knn_idx is not None:
        t1 = time.perf_counter()
        recall = f"{knn_recall(np.ascontiguousarray(x, dtype=np.float32), timer.knn_idx, n_queries=recall_queries):.4f}"
        recall += f" ({min(recall_queries, x.shape[0])} queries, exact search {time.perf_counter() - t1:.1f}s)"
    print(
        f"N={x.shape[0]} D={x.shape[1]} C={model.n_clusters_} solver={model.solver_} knn={model.knn_} "
        f"wall={wall:.1f}s peak_rss={_rss_gib():.2f}GiB traced_peak={traced} "
        f"sigma={model.affinity_sigma_:.4f} components={model.n_connected_components_} "
        f"ari_vs_truth={adjusted_rand_score(y, model.labels_):.3f} knn_recall={recall}",
        flush=True,
    )
    return model.labels_


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--half", type=int, default=1024, help="dims per stream (D = 2 x half)")
    ap.add_argument("--dim", type=int, default=None, help="descriptor dims D (sets --half to D / 2)")
    ap.add_argument("--noise", type=float, default=0.5, help="norm of the isotropic noise (cluster overlap)")
    ap.add_argument("--solver", choices=("auto", "dense", "sparse"), default="auto")
    ap.add_argument("--knn", choices=("auto", "exact", "approximate"), default="auto")
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--compare", action="store_true", help="run dense and sparse; print their ARI")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recall-queries", type=int, default=1000, help="rows whose exact neighbours check the graph")
    ap.add_argument("--no-trace", dest="trace", action="store_false", help="skip tracemalloc (slow at 1M)")
    args = ap.parse_args()
    if args.dim is not None:
        if args.dim % 2:
            ap.error(f"--dim must be even (two streams), got {args.dim}")
        args.half = args.dim // 2

    t0 = time.perf_counter()
    x, y = make_descriptors(args.n, args.clusters, half=args.half, noise=args.noise, seed=args.seed)
    print(f"generated {x.shape} float32 in {time.perf_counter() - t0:.1f}s, peak_rss={_rss_gib():.2f}GiB", flush=True)
    common = (args.n_init, args.knn, args.trace, args.recall_queries)
    if args.compare:
        dense = run(x, y, args.clusters, "dense", *common)
        sparse = run(x, y, args.clusters, "sparse", *common)
        print(f"ARI(dense, sparse) = {adjusted_rand_score(dense, sparse):.3f}")
    else:
        run(x, y, args.clusters, args.solver, *common)


if __name__ == "__main__":
    main()
