"""``cotal eval``: detection mAP of a results file, optionally mapping cluster-id labels to classes first."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cotal.data.actionformer import match_ids
from cotal.data.annotations import Annotations, load_annotations
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError
from cotal.evaluate.compact import apply_mapping_arrays, read_detection_arrays
from cotal.evaluate.detection import TIOU_PRESETS, evaluate_detections
from cotal.evaluate.formats import read_clusters
from cotal.utils.io import write_json
from cotal.utils.outdir import check_output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="detection mAP (ActivityNet protocol) of a results file",
        description="Evaluate detections with the ActivityNet mAP protocol (see docs/evaluation.md). Detections "
        "labelled with cluster ids are mapped to classes using --cluster-file (TRAINING-set assignments) first.",
    )
    p.add_argument("--data", required=True, help="native dataset folder, or an ActivityNet-style annotations JSON")
    p.add_argument("--detections", required=True, help='results JSON {"results": {video: [detections]}}')
    p.add_argument(
        "--cluster-file",
        metavar="JSON",
        help="TRAINING-set cluster assignments JSON {video: cluster}, when labels are clusters",
    )
    p.add_argument("--mapping", choices=("soft", "hungarian"), default="soft", help="cluster-to-class rule")
    thr = p.add_mutually_exclusive_group()
    thr.add_argument("--tiou", type=float, nargs="+", metavar="T", help="tIoU thresholds, e.g. 0.3 0.4 0.5 0.6 0.7")
    thr.add_argument("--preset", choices=sorted(TIOU_PRESETS), help="threshold preset (default thumos14)")
    p.add_argument("--subset", help="subset to evaluate (default: the dataset's test subset; all videos for a JSON)")
    p.add_argument(
        "--train-subset",
        help="subset whose assignments build the mapping (default: the dataset's train subset; for a JSON: every "
        "assigned video outside the evaluated ones)",
    )
    p.add_argument("--exclude-videos", nargs="+", default=[], metavar="VIDEO", help="video ids to leave out")
    p.add_argument(
        "--ambiguous",
        nargs="?",
        const="ignore_fp",
        choices=("ignore_fp", "drop"),
        help="use ambiguous intervals: ignore false positives overlapping them (default when given without a "
        "value, THUMOS14 toolkit rule) or drop every overlapping detection",
    )
    p.add_argument("--dedup-gt", action="store_true", help="remove repeated ground-truth instances")
    p.add_argument("--max-per-video", type=int, metavar="N", help="keep the top-N detections of each video")
    p.add_argument("--per-class", action="store_true", help="print AP per class")
    p.add_argument("--out", help="write the metrics as JSON here")
    p.set_defaults(func=run)


def _load_ground_truth(path: str) -> tuple[Annotations, str | None, str | None]:
    """Annotations plus the default (test, train) subsets: from dataset.yaml for a folder, none for a JSON file."""
    if Path(path).is_dir():
        ds = FeatureDataset(path)
        return ds.annotations, ds.meta.test_subset, ds.meta.train_subset
    return load_annotations(path), None, None


def run(args: argparse.Namespace) -> int:
    # Imported here so that building the parser (`cotal --help`) does not load SciPy.
    from cotal.evaluate.clustering import clustering_metrics
    from cotal.evaluate.mapping import build_mapping, cluster_id, mapping_to_json

    if args.out:
        check_output_file(args.out, [args.data, args.detections, args.cluster_file])
    annotations, test_subset, train_subset = _load_ground_truth(args.data)
    subset = args.subset or test_subset
    if subset is not None and subset not in annotations.subsets:
        raise DataError(f"{args.data}: no videos in subset {subset!r}; subsets: {', '.join(annotations.subsets)}")
    detections = read_detection_arrays(args.detections)  # compact: memory a small multiple of the file
    renamed = match_ids(detections.video_ids, annotations)
    if renamed:  # ActivityNet ids written with v_ on one side and without it on the other
        detections = dataclasses.replace(detections, video_ids=[renamed.get(v, v) for v in detections.video_ids])
        print(f"matched {len(renamed)} detection video id(s) to the ground truth by adding or removing 'v_'")
    report: dict = {"data": str(args.data), "detections": str(args.detections), "subset": subset}

    if args.cluster_file:
        assignments = read_clusters(args.cluster_file)
        evaluated = set(annotations.ids(subset)) - set(args.exclude_videos)
        train_subset = args.train_subset or train_subset
        train = {
            v: k
            for v, k in assignments.items()
            if v in annotations
            and v not in evaluated
            and (train_subset is None or annotations[v].subset == train_subset)
        }
        if not train:
            raise DataError(
                f"{args.cluster_file}: no assigned video belongs to the training videos "
                f"(subset {train_subset or 'outside the evaluated ones'}); the mapping must come from training videos"
            )
        mapping = build_mapping(train, annotations, method=args.mapping)
        unmapped = sorted(lab for lab in set(detections.labels) if cluster_id(lab) not in mapping)
        detections = apply_mapping_arrays(detections, mapping)
        cm = clustering_metrics(train, annotations)
        print(
            f"mapping ({args.mapping}) from {len(train)} training videos ({len(assignments) - len(train)} assigned "
            f"videos not used): {len(mapping)} clusters mapped; training clustering purity {cm['purity']:.3f}, "
            f"ARI {cm['ari']:.3f}, NMI {cm['nmi_geometric']:.3f} (geometric) / {cm['nmi_arithmetic']:.3f} (arithmetic)"
        )
        if unmapped:
            print(f"detection labels without a mapped cluster (left as they are): {', '.join(unmapped[:10])}")
        report["mapping"] = {
            "method": args.mapping,
            "num_train_videos": len(train),
            "clusters": mapping_to_json(mapping),
        }
        report["clustering_train"] = cm

    result = evaluate_detections(
        annotations,
        detections,
        args.tiou if args.tiou else (args.preset or "thumos14"),
        subset=subset,
        exclude_videos=args.exclude_videos,
        ambiguous=args.ambiguous,
        dedup_gt=args.dedup_gt,
        max_per_video=args.max_per_video,
    )
    print(result.table(per_class=args.per_class))
    if (
        not args.cluster_file
        and result.unknown_labels
        and all(cluster_id(x) is not None for x in result.unknown_labels)
    ):
        print("hint: the labels look like cluster ids; pass --cluster-file with the TRAINING-set assignments")
    report["detection"] = result.to_json()
    if args.out:
        write_json(args.out, report)
        print(f"wrote {args.out}")
    return 0
