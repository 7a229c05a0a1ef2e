"""``cotal eval``: detection mAP of a results file, optionally mapping cluster-id labels to classes first."""

from __future__ import annotations

import argparse

from cotal.evaluate.compact import read_detection_arrays
from cotal.evaluate.formats import read_clusters
from cotal.evaluate.run import load_ground_truth, match_video_ids, run_evaluation, training_assignments
from cotal.evaluate.tiou import TIOU_PRESETS
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_output_file(args.out, [args.data, args.detections, args.cluster_file], overwrite=args.overwrite)
    gt = load_ground_truth(args.data)
    subset = gt.evaluated_subset(args.subset)
    detections = read_detection_arrays(args.detections)  # compact: memory a small multiple of the file
    detections, renamed = match_video_ids(detections, gt.annotations)
    if renamed:  # ActivityNet ids written with v_ on one side and without it on the other
        print(f"matched {renamed} detection video id(s) to the ground truth by adding or removing 'v_'")
    train = None
    if args.cluster_file:
        assignments = read_clusters(args.cluster_file)
        train = training_assignments(
            assignments,
            gt.annotations,
            evaluated=set(gt.annotations.ids(subset)) - set(args.exclude_videos),
            train_subset=args.train_subset or gt.train_subset,
            source=args.cluster_file,
        )
    evaluation = run_evaluation(
        gt.annotations,
        detections,
        args.tiou if args.tiou else (args.preset or "thumos14"),
        train_assignments=train,
        mapping=args.mapping,
        subset=subset,
        exclude_videos=args.exclude_videos,
        ambiguous=args.ambiguous,
        dedup_gt=args.dedup_gt,
        max_per_video=args.max_per_video,
    )
    if evaluation.mapped is not None:
        m, cm = evaluation.mapped, evaluation.mapped.clustering
        print(
            f"mapping ({m.method}) from {m.num_train_videos} training videos ({len(assignments) - len(train)} "
            f"assigned videos not used): {len(m.mapping)} clusters mapped; training clustering purity "
            f"{cm['purity']:.3f}, ARI {cm['ari']:.3f}, NMI {cm['nmi_geometric']:.3f} (geometric) / "
            f"{cm['nmi_arithmetic']:.3f} (arithmetic)"
        )
        if m.unmapped_labels:
            print(f"detection labels without a mapped cluster (left as they are): {', '.join(m.unmapped_labels[:10])}")
    print(evaluation.detection.table(per_class=args.per_class))
    if evaluation.labels_look_like_clusters:
        print("hint: the labels look like cluster ids; pass --cluster-file with the TRAINING-set assignments")
    if args.out:
        write_json(
            args.out,
            {"data": str(args.data), "detections": str(args.detections), "subset": subset, **evaluation.to_json()},
        )
        print(f"wrote {args.out}")
    return 0
