"""``cotal cluster``: spectral clustering of a dataset's videos into pseudo action classes."""

from __future__ import annotations

import argparse
import sys
import typing

from cotal.cli.options import add_seed, add_streams, streams_value
from cotal.cluster.config import ClusterConfig, Solver
from cotal.data.attention import load_attention
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError
from cotal.evaluate.formats import write_clusters
from cotal.utils.outdir import check_output_file


def _clusters_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {value!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="cluster videos into pseudo action classes (spectral clustering)",
        description="Pool each video's features (mean, or weighted by --attention), L2-normalise per stream, and "
        "cluster them with spectral clustering (see docs/clustering.md). Writes {video_id: cluster_id} JSON. "
        "Ground-truth labels, when present, are only used to print purity / ARI / NMI.",
    )
    p.add_argument("--data", required=True, help="native dataset folder")
    p.add_argument("--clusters", required=True, type=_clusters_arg, help="number of clusters C, or 'auto' (eigengap)")
    p.add_argument("--out", required=True, help="assignments JSON to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--attention", help="attention .npz from the previous round (default: mean pooling)")
    p.add_argument("--subset", help="subset to cluster (default: the dataset's train subset)")
    add_streams(p, "default: all present")
    defaults = ClusterConfig()  # the same defaults as `cotal fit`'s cluster section
    solvers = typing.get_args(Solver)
    p.add_argument("--solver", choices=solvers, default=defaults.solver, help="affinity graph")
    p.add_argument("--neighbors", type=int, default=defaults.n_neighbors, help="k of the k-NN graph (sparse solver)")
    p.add_argument("--auto-range", type=int, nargs=2, default=(2, 50), metavar=("MIN", "MAX"), help="C for 'auto'")
    add_seed(p, "random seed (eigensolver start, k-means)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that building the parser (`cotal --help`) does not load scikit-learn / SciPy.
    from cotal.cluster import SpectralVideoClustering, video_descriptors
    from cotal.evaluate.clustering import clustering_metrics

    check_output_file(args.out, [args.data, args.attention], overwrite=args.overwrite)
    ds = FeatureDataset(args.data)
    subset = args.subset or ds.meta.train_subset
    ids = ds.video_ids(subset)
    if not ids:
        raise DataError(f"{ds.root}: no videos in subset {subset!r}; subsets: {', '.join(ds.annotations.subsets)}")
    attention = load_attention(args.attention) if args.attention else None
    x = video_descriptors(ds, ids, attention=attention, streams=streams_value(args.streams))
    model = SpectralVideoClustering(
        n_clusters=args.clusters,
        solver=args.solver,
        n_neighbors=args.neighbors,
        random_state=args.seed,
        auto_range=tuple(args.auto_range),
    ).fit(x)
    if args.clusters == "auto" and model.n_clusters_ <= 2:
        print(
            f"warning: the eigengap picked C={model.n_clusters_}; such a coarse split is rarely the action classes, "
            "consider --clusters C",
            file=sys.stderr,
        )
    assignments = {vid: int(c) for vid, c in zip(ids, model.labels_, strict=True)}
    write_clusters(args.out, assignments)
    print(
        f"clustered {len(ids)} videos ({subset}, {x.shape[1]}-d) into C={model.n_clusters_} "
        f"[{model.solver_} solver, sigma={model.affinity_sigma_:.4f}] -> {args.out}"
    )
    metrics = clustering_metrics(assignments, ds.annotations)
    if metrics["num_videos"]:
        print(
            f"ground truth ({metrics['num_videos']} labelled videos, reported only): purity {metrics['purity']:.3f}"
            f"  ARI {metrics['ari']:.3f}  NMI {metrics['nmi_geometric']:.3f} (geometric)"
            f" / {metrics['nmi_arithmetic']:.3f} (arithmetic)"
        )
    return 0
