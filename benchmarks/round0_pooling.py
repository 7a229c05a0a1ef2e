"""Round-0 purity of each first-clustering pooling, to see whether its best value depends on the data.

For every dataset folder (native layout), the training videos' round-0 clustering is computed as ``cotal fit``
computes it (the true C, the default normalisation and the automatic centring choice) with each candidate of
``cluster.pooling`` / ``cluster.top_fraction``, and scored against the ground truth (reported only: no label
reaches the clustering). Round 0 needs no model, so the whole grid takes seconds per dataset.

Example (the validation splits of the development suite):
    .venv/bin/python benchmarks/round0_pooling.py --data runs/suite/data/*_val
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cotal.cluster import SpectralVideoClustering, video_descriptors
from cotal.config import load_config
from cotal.data.dataset import FeatureDataset
from cotal.evaluate.clustering import clustering_metrics
from cotal.pipeline.stages import round0_inputs

CANDIDATES = [("mean", 0.3)] + [("distinctive", f) for f in (0.1, 0.2, 0.3, 0.5, 0.7)]


def purities(root: str) -> list[float]:
    """Round-0 purity (training videos, true C) for each of :data:`CANDIDATES`."""
    ds = FeatureDataset(root)
    ids = ds.train_ids
    true_c = len({lab for v in ids for lab in ds.annotation(v).video_labels})
    out = []
    for pooling, fraction in CANDIDATES:
        config = load_config(None, {"cluster": {"pooling": pooling, "top_fraction": fraction}})
        inputs = round0_inputs(ds, ids, config)
        x = video_descriptors(ds, ids, inputs.weights, normalization=inputs.normalization, center=inputs.center.center)
        labels = SpectralVideoClustering(n_clusters=true_c, random_state=0).fit_predict(x)
        out.append(clustering_metrics(dict(zip(ids, labels.tolist(), strict=True)), ds.annotations)["purity"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True, help="native dataset folders")
    args = ap.parse_args()
    names = [p if p == "mean" else f"{p} {f}" for p, f in CANDIDATES]
    print("| dataset | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for root in args.data:
        row = purities(root)
        best = max(row)
        cells = [f"**{p:.3f}**" if p == best else f"{p:.3f}" for p in row]
        print(f"| {Path(root).name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
