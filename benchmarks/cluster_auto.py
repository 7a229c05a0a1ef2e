"""How well ``n_clusters="auto"`` (largest eigengap of the normalised Laplacian) recovers the number of clusters.

Part 1: anisotropic Gaussian mixtures of unit-norm descriptors (uneven cluster sizes) for several true C and
seeds, dense and sparse graphs. Part 2 (with ``--data DIR``): a dataset in the native layout, e.g. one written
by ``cotal synth --out DIR --skeleton thumos14``; clusters its train subset with the true C and with "auto" and
prints purity / ARI / NMI against the ground truth (reported only).

Example:
    .venv/bin/python benchmarks/cluster_auto.py --data /tmp/synth_thumos
"""

from __future__ import annotations

import argparse

import numpy as np

from cotal.cluster import SpectralVideoClustering, video_descriptors
from cotal.data.dataset import FeatureDataset
from cotal.evaluate.clustering import clustering_metrics


def mixture(n: int, c: int, d: int, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.choice(c, size=n, p=rng.dirichlet(np.full(c, 5.0)))
    x = rng.normal(size=(c, d))[y] + rng.normal(size=(n, d)) * rng.uniform(0.2, 1.0, size=(c, d))[y] * spread
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mixtures(seeds: int) -> None:
    print("true C | spread | dense: estimated C per seed | sparse: estimated C per seed")
    for c in (5, 10, 20):
        for spread in (0.25, 0.5):
            found = {}
            for solver in ("dense", "sparse"):
                found[solver] = [
                    SpectralVideoClustering(n_clusters="auto", solver=solver, auto_range=(2, 40), random_state=s)
                    .fit(mixture(100 * c, c, 32, spread, seed=s))
                    .n_clusters_
                    for s in range(seeds)
                ]
            print(f"{c:6d} | {spread:6.2f} | {found['dense']} | {found['sparse']}", flush=True)


def dataset(root: str) -> None:
    ds = FeatureDataset(root)
    ids = ds.train_ids
    x = video_descriptors(ds, ids)
    true_c = len({lab for v in ids for lab in ds.annotation(v).video_labels})
    print(f"{root}: {len(ids)} train videos, {x.shape[1]}-d, {true_c} classes")
    for solver in ("dense", "sparse"):
        for c in (true_c, "auto"):
            model = SpectralVideoClustering(n_clusters=c, solver=solver, auto_range=(2, 50)).fit(x)
            m = clustering_metrics(dict(zip(ids, model.labels_.tolist(), strict=True)), ds.annotations)
            print(
                f"  {solver:6s} C={c!s:4s} -> C={model.n_clusters_:3d}  purity {m['purity']:.3f}  ARI {m['ari']:.3f}"
                f"  NMI(geo) {m['nmi_geometric']:.3f}",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="native dataset folder (e.g. from cotal synth)")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    mixtures(args.seeds)
    if args.data:
        dataset(args.data)


if __name__ == "__main__":
    main()
