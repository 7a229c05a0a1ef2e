"""How well ``n_clusters="auto"`` (the C whose clustering has the highest silhouette) recovers the number of classes.

Part 1: anisotropic Gaussian mixtures of unit-norm descriptors (uneven cluster sizes) for several true C and
seeds, dense and sparse graphs. Part 2 (with ``--data DIR ...``): datasets in the native layout; each train
subset's round-0 descriptors exactly as ``cotal fit`` builds them with the default settings (``cluster.center:
auto`` included), C estimated and compared with the number of classes, and the clustering with the estimated and
with the true C scored against the ground truth (reported only).

Example:
    .venv/bin/python benchmarks/cluster_auto.py --data runs/suite/data/thumos14_s1_val runs/suite/data/hard_s1_val
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cotal.cluster import SpectralVideoClustering, video_descriptors
from cotal.config import load_config
from cotal.data.dataset import FeatureDataset
from cotal.evaluate.clustering import clustering_metrics
from cotal.pipeline.stages import round0_inputs


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
    config = load_config(None, {"pipeline": {"clusters": "auto"}})
    inputs = round0_inputs(ds, ids, config)
    x = video_descriptors(ds, ids, inputs.weights, normalization=inputs.normalization, center=inputs.center.center)
    true_c = len({lab for v in ids for lab in ds.annotation(v).video_labels})
    model = SpectralVideoClustering(n_clusters="auto").fit(x)
    top = sorted(model.auto_scores_, key=model.auto_scores_.get, reverse=True)[:3]
    scores = ", ".join(f"C={k}: {model.auto_scores_[k]:.3f}" for k in top)
    error = 100 * (model.n_clusters_ / true_c - 1)
    print(f"{Path(root).name}: {len(ids)} videos, {true_c} classes, centred: {inputs.center.center}")
    print(f"  estimated C = {model.n_clusters_} ({error:+.0f} %); highest silhouettes {scores}")
    for c in (true_c, model.n_clusters_):
        labels = SpectralVideoClustering(n_clusters=c).fit_predict(x)
        m = clustering_metrics(dict(zip(ids, labels.tolist(), strict=True)), ds.annotations)
        print(f"  C={c:3d}  purity {m['purity']:.3f}  ARI {m['ari']:.3f}  NMI(geo) {m['nmi_geometric']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="*", default=[], help="native dataset folders (e.g. from cotal synth)")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    mixtures(args.seeds)
    for root in args.data:
        dataset(root)


if __name__ == "__main__":
    main()
