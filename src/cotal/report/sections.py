"""The report's sections, in page order: each takes what :mod:`cotal.report.data` read and returns HTML parts."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotal.errors import DataError
from cotal.report.data import (
    MAPPING_NAMES,
    ROUND_SIGNALS,
    Outputs,
    RunRecord,
    cluster_class_counts,
    detections_by_label,
    training_logs,
    videos_to_draw,
)
from cotal.report.figures import auto_c_plot, curves_plot, figure_png, image_png, rounds_plot, timeline_plot
from cotal.report.html import cell, esc, img, table
from cotal.report.records import CLUSTER_KEYS, CLUSTERING, NUMBER, check_fields
from cotal.report.video import filmstrip_frames, frame_at
from cotal.utils.io import read_json
from cotal.utils.run import RunLayout

_TOP_PER_CLUSTER = 5
_MEMBERS_SHOWN = 15


def context_section(run: RunRecord) -> list[str]:
    """Where the run came from (dataset, subsets, settings, command, versions) and its wall time per stage."""
    ds, config, run_info = run.dataset, run.config, run.run_info
    pipe = config.get("pipeline", {})
    weak = run.metrics.get("supervision") == "weak"
    inv = run_info.get("invocations") or [{}]
    rows = [
        ("run directory", str(run.root.resolve())),
        ("dataset", f"{ds.root.resolve()} ({ds.meta.name or 'unnamed'})"),
        ("training videos", f"{len(ds.train_ids)} (subset {ds.meta.train_subset})"),
        ("test videos", f"{len(ds.test_ids)} (subset {ds.meta.test_subset})"),
        ("streams", ", ".join(pipe.get("streams", ds.streams))),
        ("supervision", "weak (video labels)" if weak else "none (clusters as pseudo-labels)"),
        ("classes C" if weak else "clusters C", len(run.class_names)),
        ("rounds", 1 if weak else pipe.get("rounds", "?")),
        ("epochs per model", config.get("train", {}).get("epochs", "?")),
        ("seed", run_info.get("seed", pipe.get("seed", "?"))),
        ("command", shlex.join(inv[0].get("argv", [])) or "(library call)"),
        ("started", inv[0].get("time", "?")),
        ("git commit", run_info.get("git_commit") or "unknown"),
        ("cotal version", run_info.get("versions", {}).get("cotal", "?")),
    ]
    if len(inv) > 1:
        rows.append(("resumed", f"{len(inv) - 1} time(s), last {inv[-1].get('time', '?')}"))
    parts = ["<h2>Run</h2>", table(None, rows)]
    timings = run.metrics.get("timings_s") or {}
    if timings:
        total = sum(timings.values()) or 1.0
        parts.append("<h3>Wall time per stage</h3>")
        trows = [(k, round(v, 1), f"{100 * v / total:.0f}%") for k, v in timings.items()]
        trows.append(("total", round(sum(timings.values()), 1), ""))
        parts.append(table(["stage", "seconds", "share"], trows))
    return parts


def choices_section(run: RunRecord) -> list[str]:
    """What the run chose without labels, and why: the centring, C (``--clusters auto``) and the final round."""
    parts = [
        "<h2>Label-free choices</h2><p>Settings the run decided from its unlabelled training videos "
        '(docs/clustering.md, "Label-free choices").</p>'
    ]
    center = (run.metrics.get("choices") or {}).get("center")
    if center:
        rows = [("cluster.center", center["setting"]), ("descriptors centred", "yes" if center["center"] else "no")]
        if center.get("video_share") is not None:
            rows.append(("video share: snippet variance constant within videos", f"{center['video_share']:.3f}"))
            rows.append(("centred above", center["threshold"]))
        for key, name in (("silhouette", "round-0 silhouette, as chosen"), ("alternative_silhouette", "other choice")):
            if center.get(key) is not None:
                rows.append((f"{name} (reported only)", round(center[key], 3)))
        parts += ["<h3>Centring on each video's median snippet</h3>", table(None, rows)]
    info = run.layout.clustering_info(0)
    record = check_fields(read_json(info), CLUSTERING, info) if info.is_file() else {}
    auto = record.get("auto_scores")
    if auto:
        if not all(str(k).isdigit() for k in auto):
            raise DataError(f"{info}: auto_scores must map numbers of clusters to silhouettes")
        scores = {int(k): float(check_fields(v, NUMBER, info, f"auto_scores.{k}")) for k, v in auto.items()}
        chosen = record["num_clusters"]
        parts += [f"<h3>Number of clusters: C = {chosen}</h3>", img(figure_png(auto_c_plot(scores, chosen)), "auto C")]
    selection = run.metrics.get("selection")
    if selection:
        text = f"Rule <code>{esc(selection['rule'])}</code>: round {run.metrics.get('selected_round')} kept."
        for row in run.metrics.get("rounds", []):
            if row.get("inverted") or row.get("flat"):
                why = "inverted (it favours what every video shares)" if row.get("inverted") else "flat"
                text += f" Round {row['round']}'s attention S is {why}: the rounds stopped there."
        agreement = selection.get("agreement") or {}
        parts += [f"<h3>The final round</h3><p>{text}</p>"]
        if agreement:
            trained = {str(r.get("round")) for r in run.metrics.get("rounds", [])}
            rows = [
                (k if k in trained else f"{k} (the next one: no model, never kept)", round(v, 3))
                for k, v in agreement.items()
            ]
            parts.append(table(["clustering of round", "mean ARI with the others"], rows))
    return parts


def rounds_section(rounds: list[dict[str, Any]]) -> list[str]:
    """Every scalar each round recorded (clustering metrics when labels exist, label-free signals always)."""
    keys = [k for k in ROUND_SIGNALS if any(k in r for r in rounds)]  # label-free signals first
    for r in rounds:
        keys += [k for k, v in r.items() if k not in keys and isinstance(v, (int, float, str))]
    parts = [
        "<h2>Rounds</h2><p>One row per round: its clustering of the training videos (round 0: the label-free "
        "round-0 pooling, <code>cluster.pooling</code>; round k: pooled with the attention of round k-1's model) and "
        "the model trained on it. The first columns are label-free signals (docs/clustering.md); ground-truth "
        "columns (purity, ARI, NMI, accuracy, attention_ratio) are reported only; they never reach training or "
        "round selection.</p>",
        table(keys, [[cell(r.get(k, "")) for k in keys] for r in rounds]),
    ]
    if all(k in r for r in rounds for k in CLUSTER_KEYS[:3]):
        parts.append(img(figure_png(rounds_plot(rounds)), "clustering metrics per round"))
    return parts


def curves_section(layout: RunLayout) -> list[str]:
    """The training losses of every model of every round (nothing when no model logged a step)."""
    logs = training_logs(layout)
    if not logs:
        return []
    return [
        "<h2>Training curves</h2><p>Losses of every model, averaged over each logging interval.</p>",
        img(figure_png(curves_plot(logs)), "training losses"),
    ]


def detection_section(detection: dict[str, Any]) -> list[str]:
    """AP (%) per class and tIoU, and mAP, of each entry of ``metrics.json``'s ``detection``."""
    parts = ["<h2>Detection on the test videos</h2><p>ActivityNet-protocol AP (%) per class and tIoU.</p>"]
    for name, res in detection.items():
        heads = [f"{t:.2f}" for t in res["tiou_thresholds"]]
        parts.append(f"<h3>{esc(MAPPING_NAMES.get(name, name))}: average mAP {100 * res['average_map']:.2f}%</h3>")
        rows = [["mAP", *[round(100 * m, 2) for m in res["map_per_tiou"]], round(100 * res["average_map"], 2), ""]]
        for c, ap in res["ap"].items():
            rows.append([c, *[round(100 * a, 2) for a in ap], round(100 * float(np.mean(ap)), 2), res["num_gt"][c]])
        parts.append(table(["class \\ tIoU", *heads, "avg", "instances"], rows))
    return parts


def cluster_section(run: RunRecord, assign: dict[str, int]) -> list[str]:
    """The cluster-to-class matrix (when labels exist), then each cluster's members and top test detections."""
    clusters = sorted(set(assign.values()))
    parts = ["<h2>Clusters</h2>"]
    counts = cluster_class_counts(run.dataset, assign, clusters)
    if counts is not None:
        shade = counts / np.maximum(counts.max(axis=1, keepdims=True), 1)
        parts.append(
            "<h3>Cluster-to-class matrix</h3><p>Training videos of each cluster carrying each class (reported "
            "only; ground truth never reaches training).</p>"
        )
        parts.append(
            table(
                ["cluster \\ class", *run.dataset.classes],
                [[k, *row] for k, row in zip(clusters, counts.tolist(), strict=True)],
                shade,
            )
        )
    parts.append(
        "<h3>What each cluster holds</h3><p>Training videos assigned to the cluster and the test detections the "
        "final model labels with it, highest score first.</p>"
    )
    by_label = detections_by_label(run.detections)
    for k in clusters:
        members = sorted(v for v, c in assign.items() if c == k)
        top = sorted(by_label.get(str(k), []), key=lambda x: -x[1]["score"])[:_TOP_PER_CLUSTER]
        shown = ", ".join(members[:_MEMBERS_SHOWN])
        if len(members) > _MEMBERS_SHOWN:
            shown += f", ... (+{len(members) - _MEMBERS_SHOWN})"
        parts.append(f'<div class="cluster"><h3>cluster {k}: {len(members)} training videos</h3>')
        parts.append(f"<p class=muted>members: {esc(shown)}</p>")
        if top:
            rows = [
                (vid, f"{d['segment'][0]:.1f}-{d['segment'][1]:.1f} s", round(float(d["score"]), 3)) for vid, d in top
            ]
            parts.append(table(["top detections: video", "segment", "score"], rows))
            thumbs = _thumbnails(top, run.sources)
            if thumbs:
                parts.append('<div class="thumbs">' + "".join(thumbs) + "</div>")
        else:
            parts.append("<p class=muted>no test detection carries this cluster.</p>")
        parts.append("</div>")
    return parts


def _thumbnails(top: Sequence[tuple[str, Mapping[str, Any]]], sources: Mapping[str, Path]) -> list[str]:
    """Keyframe at the middle of each detection whose video file is known and readable."""
    out = []
    for vid, d in top:
        if vid not in sources:
            continue
        mid = 0.5 * (float(d["segment"][0]) + float(d["segment"][1]))
        image = frame_at(sources[vid], mid)
        if image is not None:
            out.append(img(image_png(image), f"{vid} at {mid:.1f} s"))
    return out


def timelines_section(
    run: RunRecord, outputs: Outputs, colors: Mapping[str, Any], videos: Sequence[str], per_end: int
) -> list[str]:
    """Timelines of the asked-for videos, then the ``per_end`` best and worst test videos by AP."""
    parts = [
        "<h2>Test videos</h2><p>Hatched: ground truth. Bars: the highest-scoring detections, one lane each, "
        "named by label and score"
        + (" (labels are cluster ids; AP ranks use the Hungarian cluster-to-class mapping)" if run.assignments else "")
        + ". Curves: class-agnostic attention S of each model and the class activation of the top detection's "
        "label, each scaled to [0, 1].</p>"
    ]
    for vid, why in videos_to_draw(run, outputs, videos, per_end):
        dur = run.dataset.annotation(vid).duration
        frames = filmstrip_frames(run.sources[vid], dur) if vid in run.sources else None
        fig = timeline_plot(
            run.dataset,
            vid,
            {n: o[vid] for n, o in outputs.items()},
            run.detections.get(vid, []),
            run.class_names,
            colors,
            frames,
        )
        parts.append(f"<h3>{esc(f'{vid} ({why}; {dur:.1f} s)')}</h3>" + img(figure_png(fig), f"timeline of {vid}"))
    return parts
