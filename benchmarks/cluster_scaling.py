"""Wall time, peak memory and agreement of cotal's spectral video clustering at scale.

Data: a Gaussian mixture shaped like real two-stream video descriptors: N x (2 x half) float32, uneven cluster
sizes, each cluster anisotropic (a random rank-``rank`` subspace of strong variation plus isotropic noise), and
every ``half``-dim block L2-normalised, as ``video_descriptors`` returns for [rgb, flow].

Examples:
    .venv/bin/python benchmarks/cluster_scaling.py --n 100000 --clusters 200            # sparse path
    .venv/bin/python benchmarks/cluster_scaling.py --n 10000 --clusters 50 --compare    # dense vs sparse ARI

Prints one line per solver: N, D, C, solver, wall seconds, peak RSS (whole process, includes the data),
tracemalloc peak of the fit (numpy/python allocations; not faiss' C++ ones), ARI against the generating labels,
and with ``--compare`` the ARI between the dense and sparse labels.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
from sklearn.metrics import adjusted_rand_score

from cotal.cluster import SpectralVideoClustering


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
    return x[perm], y[perm]


def run(x: np.ndarray, y: np.ndarray, clusters: int, solver: str, n_init: int, knn: str) -> np.ndarray:
    tracemalloc.start()
    t0 = time.perf_counter()
    model = SpectralVideoClustering(n_clusters=clusters, solver=solver, n_init=n_init, knn=knn).fit(x)
    wall = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(
        f"N={x.shape[0]} D={x.shape[1]} C={model.n_clusters_} solver={model.solver_} knn={model.knn_} "
        f"wall={wall:.1f}s peak_rss={rss:.2f}GiB traced_peak={traced / 2**30:.2f}GiB "
        f"sigma={model.affinity_sigma_:.4f} ari_vs_truth={adjusted_rand_score(y, model.labels_):.3f}",
        flush=True,
    )
    return model.labels_


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--half", type=int, default=1024, help="dims per stream (D = 2 x half)")
    ap.add_argument("--noise", type=float, default=0.5, help="norm of the isotropic noise (cluster overlap)")
    ap.add_argument("--solver", choices=("auto", "dense", "sparse"), default="auto")
    ap.add_argument("--knn", choices=("auto", "exact", "approximate"), default="auto")
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--compare", action="store_true", help="run dense and sparse; print their ARI")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    x, y = make_descriptors(args.n, args.clusters, half=args.half, noise=args.noise, seed=args.seed)
    print(f"generated {x.shape} float32 in {time.perf_counter() - t0:.1f}s", flush=True)
    if args.compare:
        dense = run(x, y, args.clusters, "dense", args.n_init, args.knn)
        sparse = run(x, y, args.clusters, "sparse", args.n_init, args.knn)
        print(f"ARI(dense, sparse) = {adjusted_rand_score(dense, sparse):.3f}")
    else:
        run(x, y, args.clusters, args.solver, args.n_init, args.knn)


if __name__ == "__main__":
    main()
