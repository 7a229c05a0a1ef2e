"""``cotal cluster``: spectral clustering of a dataset's videos into pseudo action classes (round 0 of `cotal fit`)."""

from __future__ import annotations

import argparse

from cotal.cli.options import MAX_CLUSTERS, add_seed, add_streams, int_in, streams_value
from cotal.config import load_config, parse_overrides
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError
from cotal.utils.outdir import check_output_file
from cotal.utils.run import console_log


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="cluster videos into pseudo action classes (spectral clustering)",
        description="Cluster a subset's videos exactly as round 0 of `cotal fit` does with the same settings: "
        "features standardised with that subset's statistics, each video pooled with round 0's label-free "
        "weights (or with --attention), spectral clustering (docs/clustering.md). Writes {video_id: cluster_id} "
        "JSON. Ground-truth labels, when present, are only used to print purity / ARI / NMI.",
    )
    p.add_argument("--data", required=True, help="native dataset folder")
    p.add_argument(
        "--clusters",
        required=True,
        type=int_in(2, MAX_CLUSTERS, auto=True),
        help="number of clusters C, or 'auto' (eigengap)",
    )
    p.add_argument("--out", required=True, help="assignments JSON to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--attention", help="snippet weights .npz (e.g. RUN/round_<r>/attention_train.npz) to pool with")
    p.add_argument("--subset", help="subset to cluster (default: the dataset's train subset)")
    p.add_argument("--config", help="preset name or YAML file whose settings `cotal fit` would use")
    p.add_argument(
        "--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE", help="config values"
    )
    add_streams(p, "default: the config's pipeline.streams")
    add_seed(p, "seed of the eigensolver start and k-means (pipeline.seed)", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that building the parser (`cotal --help`) does not load scikit-learn / SciPy.
    from cotal.cluster.stage import cluster_videos
    from cotal.cluster.weights import SnippetWeights
    from cotal.evaluate.clustering import clustering_metrics
    from cotal.evaluate.formats import write_clusters
    from cotal.pipeline.stages import round0_inputs, run_streams

    over = parse_overrides(args.overrides)
    pipe = over.setdefault("pipeline", {})
    pipe["clusters"] = args.clusters
    if args.seed is not None:
        pipe["seed"] = args.seed
    if streams_value(args.streams) is not None:
        pipe["streams"] = list(streams_value(args.streams))
    cfg = load_config(args.config, over)
    check_output_file(args.out, [args.data, args.attention, args.config], overwrite=args.overwrite)
    ds = FeatureDataset(args.data)
    subset = args.subset or ds.meta.train_subset
    ids = ds.video_ids(subset)
    if not ids:
        raise DataError(f"{ds.root}: no videos in subset {subset!r}; subsets: {', '.join(ds.annotations.subsets)}")
    streams = run_streams(cfg, ds)
    inputs = round0_inputs(ds, ids, cfg, with_weights=not args.attention)
    weights = SnippetWeights.load(args.attention) if args.attention else inputs.weights
    print(inputs.center.describe())
    with console_log():
        result = cluster_videos(
            ds,
            ids,
            n_clusters=cfg.pipeline.clusters,
            streams=streams,
            normalization=inputs.normalization,
            center=inputs.center.center,
            weights=weights,
            solver=cfg.cluster.solver,
            seed=cfg.pipeline.seed,
        )
    assignments = result.assignments()
    write_clusters(args.out, assignments)
    print(
        f"clustered {len(ids)} videos ({subset}, {'+'.join(streams)}) into C={result.n_clusters} "
        f"[{result.solver} solver, sigma={result.sigma:.4f}] -> {args.out}"
    )
    metrics = clustering_metrics(assignments, ds.annotations)
    if metrics["num_videos"]:
        print(
            f"ground truth ({metrics['num_videos']} labelled videos, reported only): purity {metrics['purity']:.3f}"
            f"  ARI {metrics['ari']:.3f}  NMI {metrics['nmi_geometric']:.3f} (geometric)"
            f" / {metrics['nmi_arithmetic']:.3f} (arithmetic)"
        )
    return 0
