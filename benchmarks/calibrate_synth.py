"""Calibrate the synthetic feature generator against the paper's round-0 clustering figures.

For each seed, draws features for the training videos of a skeleton (in memory, with the same code that
``cotal synth`` writes to disk) and prints:

* clustering of the training videos into C clusters (docs/method.md §3-4: per-stream pooled, L2-normalised,
  concatenated descriptors; Gaussian affinity with sigma = mean pairwise distance incl. the zero diagonal;
  sklearn SpectralClustering(C, affinity="precomputed", random_state=0)) with
  - mean pooling (round 0; the paper reports purity 0.645 / ARI 0.445 / NMI 0.726 on real THUMOS14),
  - oracle pooling (weights = each snippet's overlap with ground-truth segments),
  - "half" pooling (half of the weight uniform, half oracle: an imperfect attention);
  each also with cotal.cluster.SpectralVideoClustering (rows ``cotal_*``), the pipeline's implementation.
  Metrics come from cotal.evaluate.clustering_metrics (video label = its most frequent ground-truth class);
* snippet-level difficulty: nearest-class-centroid accuracy of single action snippets (centroids from one
  half of the videos, tested on the other), AUC of a linear actionness direction (action vs background),
  and mean cosine similarities (same-class action across videos vs action-background).

Usage::

    .venv/bin/python benchmarks/calibrate_synth.py --skeleton thumos14 --seed 0 1 2 --dim 1024
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.cluster import SpectralClustering
from sklearn.metrics import roc_auc_score

from cotal.cluster import SpectralVideoClustering, pool_features
from cotal.data.dataset import STREAMS
from cotal.evaluate import clustering_metrics
from cotal.synth import SynthConfig, SynthGenerator, load_skeleton

SNIPPETS_PER_VIDEO = 40  # sampled per video for the snippet-level statistics


def l2n(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def sklearn_spectral(desc: np.ndarray, n_clusters: int) -> np.ndarray:
    """docs/method.md §3-4 reference, exactly as the authors' code: (N, D) descriptors -> (N,) cluster ids."""
    norms = (desc**2).sum(1)
    sq = np.maximum(norms[:, None] + norms[None, :] - 2 * desc @ desc.T, 0.0)
    np.fill_diagonal(sq, 0.0)
    sigma = np.sqrt(sq).mean()  # (1/N^2) sum_ij ||f_i - f_j||, zero diagonal included
    affinity = np.exp(-sq / (2 * sigma**2))
    return SpectralClustering(n_clusters, affinity="precomputed", random_state=0).fit_predict(affinity)


def calibrate(skeleton: str | None, seed: int, config: SynthConfig) -> dict[str, float]:
    skel = load_skeleton(skeleton, config, seed)
    gen = SynthGenerator(skel, config, seed)
    ann = skel.annotations
    ids = [v for v in ann.ids(skel.train_subset) if len(ann[v].labels)]
    classes = list(skel.classes)
    rng = np.random.default_rng(seed)
    mean_desc, half_desc, oracle_desc = [], [], []
    act_x, act_y, act_vid, bg_x, bg_vid = [], [], [], [], []
    t0 = time.perf_counter()
    for i, vid in enumerate(ids):
        feats = gen.video(vid)
        T = feats["rgb"].shape[0]
        mask = gen.timing.segment_mask(ann[vid].segments, T)
        oracle = mask if mask.sum() > 0 else None  # no snippet overlaps the actions: uniform
        mean_desc.append(np.concatenate([pool_features(feats[s]) for s in STREAMS]))
        oracle_desc.append(np.concatenate([pool_features(feats[s], oracle) for s in STREAMS]))
        # Halfway attention: half of the mass uniform, half on the ground-truth actions.
        half = np.full(T, 0.5 / T) + (0.5 * mask / mask.sum() if mask.sum() > 0 else 0.5 / T)
        half_desc.append(np.concatenate([pool_features(feats[s], half) for s in STREAMS]))
        # Snippet-level statistics: snippets fully inside one action (class = the segment covering it most)
        # and snippets outside every action, per-stream L2-normalised and concatenated.
        x = np.concatenate([l2n(feats[s]) for s in STREAMS], axis=1)
        segs = ann[vid].segments
        cover = np.stack([gen.timing.segment_mask(segs[k : k + 1], T) for k in range(len(segs))])
        for idx, is_action in ((np.flatnonzero(mask >= 0.99), True), (np.flatnonzero(mask == 0), False)):
            pick = rng.choice(idx, size=min(len(idx), SNIPPETS_PER_VIDEO), replace=False)
            if is_action:
                act_x.append(x[pick])
                act_y.append([classes.index(ann[vid].labels[k]) for k in cover[:, pick].argmax(0)])
                act_vid.append(np.full(len(pick), i))
            else:
                bg_x.append(x[pick])
                bg_vid.append(np.full(len(pick), i))
    gen_s = time.perf_counter() - t0
    out: dict[str, float] = {"videos": len(ids), "gen_s": gen_s}
    for name, desc in (("mean", mean_desc), ("half", half_desc), ("oracle", oracle_desc)):
        desc = np.stack(desc)
        for impl, labels in (
            ("", sklearn_spectral(desc, len(classes))),
            ("cotal_", SpectralVideoClustering(n_clusters=len(classes), solver="dense").fit_predict(desc)),
        ):
            m = clustering_metrics(dict(zip(ids, labels.tolist(), strict=True)), ann)
            out |= {f"{impl}{name}_{k}": m[k] for k in ("purity", "ari", "nmi_arithmetic", "nmi_geometric")}
    out |= snippet_stats(
        np.concatenate(act_x),
        np.concatenate(act_y),
        np.concatenate(act_vid),
        np.concatenate(bg_x),
        np.concatenate(bg_vid),
        len(classes),
    )
    return out


def snippet_stats(
    ax: np.ndarray, ay: np.ndarray, avid: np.ndarray, bx: np.ndarray, bvid: np.ndarray, n_cls: int
) -> dict[str, float]:
    """Single-snippet difficulty: (Na, 2D) action snippets with classes/videos, (Nb, 2D) background snippets."""
    half_a, half_b = avid % 2 == 0, bvid % 2 == 0
    cents = np.stack(
        [ax[half_a & (ay == c)].mean(0) if np.any(half_a & (ay == c)) else np.zeros(ax.shape[1]) for c in range(n_cls)]
    )
    test = ~half_a
    acc = float(np.mean(np.argmax(l2n(ax[test]) @ l2n(cents).T, axis=1) == ay[test]))
    direction = ax[half_a].mean(0) - bx[half_b].mean(0)
    scores = np.concatenate([ax[~half_a] @ direction, bx[~half_b] @ direction])
    labels = np.concatenate([np.ones((~half_a).sum()), np.zeros((~half_b).sum())])
    auc = float(roc_auc_score(labels, scores))
    na, nb = l2n(ax), l2n(bx)
    sims_aa = na @ na.T
    same = (ay[:, None] == ay[None, :]) & (avid[:, None] != avid[None, :])
    diffc = (ay[:, None] != ay[None, :]) & (avid[:, None] != avid[None, :])
    sims_ab = na @ nb.T
    other = avid[:, None] != bvid[None, :]
    return {
        "snip_acc": acc,
        "act_auc": auc,
        "cos_same_class": float(sims_aa[same].mean()),
        "cos_diff_class": float(sims_aa[diffc].mean()),
        "cos_act_bg": float(sims_ab[other].mean()),
        "cos_act_bg_same_video": float(sims_ab[~other].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skeleton", default="thumos14", help="thumos14, activitynet12, random or a JSON path")
    parser.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--max-videos", type=int, default=None, help="subsample the skeleton (ActivityNet)")
    args = parser.parse_args()
    config = SynthConfig(dim=args.dim, max_videos=args.max_videos)
    skeleton = None if args.skeleton == "random" else args.skeleton
    rows = [calibrate(skeleton, seed, config) for seed in args.seed]
    keys = list(rows[0])
    print(f"skeleton={args.skeleton} dim={args.dim} seeds={args.seed} (paper round 0: purity .645 ARI .445 NMI .726)")
    print(f"{'metric':<28}" + "".join(f"{'seed ' + str(s):>10}" for s in args.seed) + f"{'mean':>10}{'std':>10}")
    for k in keys:
        vals = np.array([r[k] for r in rows], dtype=float)
        print(f"{k:<28}" + "".join(f"{v:>10.3f}" for v in vals) + f"{vals.mean():>10.3f}{vals.std():>10.3f}")


if __name__ == "__main__":
    main()
