"""Human-readable results of a run: console tables and a self-contained, offline ``report.html``.

The page is one file: plots are PNGs embedded as ``data:`` URIs, styles are inline, there is no script and no
external resource (a Content-Security-Policy forbids any). Sections: run context, label-free per-round signals,
training curves of every model, detection AP per class and tIoU, clusters (cluster-to-class matrix when labels
exist; always size, members and top-scored detections), and per-video timelines. When the features came from
``cotal extract`` (``DATA/.parts/<video>.json`` names the video file), timelines get a filmstrip of keyframes and
clusters get thumbnails of their top detections.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotal.data import FeatureDataset
from cotal.errors import ConfigError, DataError
from cotal.utils.io import atomic_open, read_json, read_yaml
from cotal.utils.outdir import path_inside
from cotal.utils.run import RunLayout

CLUSTER_KEYS = ("purity", "ari", "nmi_geometric", "nmi_arithmetic")
# Columns of train_log.csv that are bookkeeping, not losses.
_NOT_LOSSES = ("step", "epoch", "lr", "snippets_per_s")
_MAX_LANES = 8  # detections drawn per timeline, one lane each
_FILMSTRIP = 10  # keyframes under a timeline
_TOP_PER_CLUSTER = 5

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em} h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em} td,th{border:1px solid #ddd;padding:.2em .55em;font-size:.88em}
th{background:#f3f3f3;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f5f5f5;padding:0 .25em} img{max-width:100%} .muted{color:#777}
.tw{overflow-x:auto} .thumbs img{height:64px;margin-right:4px;border:1px solid #ccc} .cluster{margin-bottom:1.2em}
"""
# No network, no scripts: everything the page shows is inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# -- console ------------------------------------------------------------------------------------------


def clustering_table(rounds: list[dict[str, Any]]) -> str:
    """Per-round clustering metrics in the paper's format (one row per clustering)."""
    if not rounds:
        return ""
    keys = [k for k in CLUSTER_KEYS if k in rounds[0]]
    head = f"{'round':>5}  {'pooling':<13}{'C':>3}  " + "".join(k.rjust(15) for k in keys)
    lines = [head]
    for row in rounds:
        r = row["round"]
        pooling = "round-0" if r == 0 else f"S of round {r - 1}"  # round 0: cluster.pooling
        lines.append(f"{r:>5}  {pooling:<13}{row['num_clusters']:>3}  " + "".join(f"{row[k]:15.3f}" for k in keys))
    return "\n".join(lines)


def map_table(detection: dict[str, Any]) -> str:
    """mAP (%) per tIoU for each mapping (unsupervised) or the weak result."""
    lines = []
    for name, res in detection.items():
        if not lines:
            lines.append("mAP (%) @ tIoU".ljust(18) + "".join(f"{t:7.2f}" for t in res["tiou_thresholds"]) + "    avg")
        maps = [*res["map_per_tiou"], res["average_map"]]
        lines.append(_MAPPING_NAMES.get(name, name).ljust(18) + "".join(f"{100 * m:7.2f}" for m in maps))
    return "\n".join(lines)


_MAPPING_NAMES = {"soft": "clusters, soft map", "hungarian": "clusters, hungarian", "weak": "weakly supervised"}


def timings_table(timings: Mapping[str, float]) -> str:
    """Wall time per stage as aligned text rows (stage, seconds, share of the total)."""
    total = sum(timings.values()) or 1.0
    width = max([len(k) for k in timings] + [5])
    lines = ["stage".ljust(width) + "   seconds  share"]
    for k, v in timings.items():
        lines.append(f"{k.ljust(width)} {v:9.1f} {100 * v / total:5.0f}%")
    lines.append(f"{'total'.ljust(width)} {sum(timings.values()):9.1f}")
    return "\n".join(lines)


def print_summary(metrics: dict[str, Any]) -> None:
    """Print the clustering, mAP and wall-time tables of a run's ``metrics.json``."""
    if metrics.get("rounds"):
        print("\nClustering of the training videos (reported only; ground truth is never used to fit):")
        print(clustering_table(metrics["rounds"]))
    if metrics.get("detection"):
        print("\nDetection on the test videos:")
        print(map_table(metrics["detection"]))
    if metrics.get("timings_s"):
        print("\nWall time per stage:")
        print(timings_table(metrics["timings_s"]))


# -- HTML helpers -------------------------------------------------------------------------------------


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any) -> str:
    """Floats with at most 3 decimals and no trailing zeros (0.7, 0.247, 125.8)."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]], shade: np.ndarray | None = None) -> str:
    """An HTML table (no header row when ``header`` is None); numbers right-aligned; ``shade`` (rows x columns-1,
    in [0, 1]) tints the value cells."""
    out = ["<table>" + ("<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>" if header else "")]
    for i, row in enumerate(rows):
        cells = []
        for j, v in enumerate(row):
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            style = ""
            if shade is not None and j > 0 and shade[i, j - 1] > 0:
                style = f' style="background:rgba(31,119,180,{0.75 * float(shade[i, j - 1]):.2f})"'
            cells.append(f"<td{' class=n' if num else ''}{style}>{_esc(_fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return '<div class="tw">' + "".join(out) + "</table></div>"


def _img(png_b64: str, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{png_b64}">'


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _png_array(image: np.ndarray) -> str:
    import matplotlib.image

    buf = io.BytesIO()
    matplotlib.image.imsave(buf, image, format="png")
    return base64.b64encode(buf.getvalue()).decode()


# -- plots --------------------------------------------------------------------------------------------


def _rounds_plot(rounds: list[dict[str, Any]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    x = [r["round"] for r in rounds]
    for k in CLUSTER_KEYS[:3]:
        ax.plot(x, [r[k] for r in rounds], marker="o", label=k)
    ax.set_xlabel("clustering round (0 = before any model)")
    ax.set_xticks(x)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(alpha=0.3)
    return fig


def read_train_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``train_log.csv`` as float arrays (empty dict when the file has no rows)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _curves_plot(logs: dict[str, dict[str, np.ndarray]]):
    """One panel per model (of every round): every loss column against the update step."""
    import matplotlib.pyplot as plt

    n = len(logs)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, log) in zip(axes.flat, logs.items(), strict=False):
        for k, v in log.items():
            if k not in _NOT_LOSSES:
                ax.plot(log["step"], v, label=k, lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("update step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.98), title="loss")
    fig.tight_layout()
    return fig


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(sorted(labels))}


def _timeline_plot(
    ds: FeatureDataset,
    vid: str,
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    dets: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    colors: Mapping[str, Any],
    frames: list[tuple[float, np.ndarray]] | None,
):
    """Lanes: ground truth (one per class), the top detections (one each, label and score as the lane's name);
    curves: class-agnostic attention S per model and the class activation of the top detection's class;
    optionally a filmstrip of keyframes on the same time axis."""
    import matplotlib.pyplot as plt

    ann = ds.annotation(vid)
    duration = ann.duration
    gt_classes = sorted(set(ann.labels))
    top = sorted(dets, key=lambda d: -d["score"])[:_MAX_LANES]
    lanes = len(gt_classes) + len(top)
    heights = [0.35 * max(lanes, 1) + 0.3, 1.6] + ([0.9] if frames else [])
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(10, sum(heights) + 0.6), sharex=True, gridspec_kw={"height_ratios": heights}
    )
    ax = axes[0]
    ticks, names = [], []
    y = lanes - 1
    for c in gt_classes:
        for (s, e), lab in zip(ann.segments, ann.labels, strict=True):
            if lab == c:
                ax.barh(y, e - s, left=s, height=0.7, color=colors.get(c, "grey"), edgecolor="black", hatch="//")
        ticks.append(y)
        names.append(f"GT: {c}")
        y -= 1
    for d in top:
        s, e = d["segment"]
        ax.barh(y, e - s, left=s, height=0.7, color=colors.get(d["label"], "grey"), alpha=0.85)
        ticks.append(y)
        # Label and score name the lane, beside the plot, so no text hides a bar.
        names.append(f"{'cluster ' if d['label'].isdigit() else ''}{d['label']}  {d['score']:.2f}")
        y -= 1
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_ylim(-0.6, max(lanes, 1) - 0.4)
    ax.grid(axis="x", alpha=0.3)

    ax = axes[1]
    t = None
    for name, out in outputs.items():
        s_att = np.asarray(out["attention"], dtype=np.float64)
        t = ds.timing.to_seconds(np.arange(len(s_att)) + 0.5)
        ax.plot(t, s_att / max(s_att.max(), 1e-12), lw=1.2, label=f"attention S ({name})")
    if top and t is not None and top[0]["label"] in class_names:
        c = list(class_names).index(top[0]["label"])
        cas = np.mean([np.asarray(o["cas"], dtype=np.float64)[:, c] for o in outputs.values()], axis=0)
        span = max(cas.max() - cas.min(), 1e-12)
        ax.plot(t, (cas - cas.min()) / span, "--", lw=1.2, color="black", label=f"class activation ({top[0]['label']})")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("scaled to [0,1]", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.grid(alpha=0.3)
    if frames:
        _filmstrip(axes[2], frames, duration)
    axes[-1].set_xlim(0, duration)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def _filmstrip(ax, frames: list[tuple[float, np.ndarray]], duration: float) -> None:
    """Keyframes side by side, each centred on its time."""
    width = duration / len(frames)
    for t, image in frames:
        left = min(max(t - width / 2, 0.0), duration - width)
        ax.imshow(image, extent=(left, left + width, 0, 1), aspect="auto")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("keyframes", fontsize=7)


# -- video pictures -----------------------------------------------------------------------------------


def video_sources(data: str | os.PathLike) -> dict[str, Path]:
    """Video files of a dataset written by ``cotal extract`` (from ``.parts/<video>.json``), where they exist."""
    from cotal.features.outputs import PARTS

    out = {}
    for part in sorted(Path(data, PARTS).glob("*.json")):
        try:
            rec = read_json(part)
        except DataError:
            continue
        src = rec.get("source")
        if isinstance(rec.get("video_id"), str) and isinstance(src, str) and Path(src).is_file():
            out[rec["video_id"]] = Path(src)
    return out


def keyframes(path: Path, times: Sequence[float], size: int = 72) -> list[tuple[float, np.ndarray]]:
    """Frames of ``path`` nearest to ``times`` (seconds), shorter side ``size`` pixels; decodes once."""
    from cotal.features.video import iter_frames

    want = sorted(times)
    fps = 4.0  # fine enough to land within 1/8 s of a wanted time
    got: list[tuple[float, np.ndarray]] = []
    k = 0
    prev = None
    for t, image in iter_frames(path, fps=fps, resize_short=size, crop=0):
        while k < len(want) and want[k] <= t:
            pick = image if prev is None or abs(t - want[k]) <= abs(prev[0] - want[k]) else prev[1]
            got.append((want[k], pick))
            k += 1
        if k == len(want):
            break
        prev = (t, image)
    got.extend((w, prev[1]) for w in want[k:] if prev is not None)  # times past the last decoded frame
    return got


# -- the page -----------------------------------------------------------------------------------------


def _final_outputs(layout: RunLayout, final: dict[str, Any]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    from cotal.train import load_outputs

    out = {}
    for name, model_path in final["models"].items():
        # a path from a run file must stay inside the run
        path = layout.outputs_beside(path_inside(layout.root, model_path, layout.final), "test", name)
        if path.exists():
            out[name] = load_outputs(path)
    return out


def per_video_map(
    ds: FeatureDataset, detections: Mapping[str, Sequence[Mapping[str, Any]]], tious: Sequence[float]
) -> dict[str, float]:
    """Average mAP of each labelled video over ``tious`` (classes of that video only); detections carry classes."""
    from cotal.evaluate import evaluate_detections

    out = {}
    for vid, dets in detections.items():
        if vid not in ds.annotations or not len(ds.annotation(vid).labels):
            continue
        res = evaluate_detections(ds.annotations, {vid: list(dets)}, list(tious), video_ids=[vid])
        present = res.num_gt > 0
        out[vid] = float(res.ap[present].mean()) if present.any() else 0.0
    return out


def choose_videos(
    candidates: Sequence[str], requested: Sequence[str], scores: Mapping[str, float], per_end: int = 2
) -> list[tuple[str, str]]:
    """(video, why) to draw: the requested ones, then the ``per_end`` best and worst by AP (else the first ones)."""
    chosen: list[tuple[str, str]] = [(v, "requested") for v in requested]
    seen = set(requested)
    ranked = sorted(scores, key=lambda v: (-scores[v], v))
    picks = [(v, f"best by AP ({100 * scores[v]:.1f}%)") for v in ranked[:per_end]]
    picks += [(v, f"worst by AP ({100 * scores[v]:.1f}%)") for v in ranked[::-1][:per_end]]
    if not scores:
        picks = [(v, "first test videos") for v in candidates[: 2 * per_end]]
    for v, why in picks:
        if v not in seen:
            chosen.append((v, why))
            seen.add(v)
    return chosen


def _context_section(
    run_dir: Path, ds: FeatureDataset, metrics: dict, config: dict, run_info: dict, final: dict
) -> list[str]:
    pipe = config.get("pipeline", {})
    weak = metrics.get("supervision") == "weak"
    inv = run_info.get("invocations") or [{}]
    rows = [
        ("run directory", str(run_dir.resolve())),
        ("dataset", f"{ds.root.resolve()} ({ds.meta.name or 'unnamed'})"),
        ("training videos", f"{len(ds.train_ids)} (subset {ds.meta.train_subset})"),
        ("test videos", f"{len(ds.test_ids)} (subset {ds.meta.test_subset})"),
        ("streams", ", ".join(pipe.get("streams", ds.streams))),
        ("supervision", "weak (video labels)" if weak else "none (clusters as pseudo-labels)"),
        ("classes C" if weak else "clusters C", len(final.get("class_names", []))),
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
    parts = ["<h2>Run</h2>", _table(None, rows)]
    timings = metrics.get("timings_s") or {}
    if timings:
        total = sum(timings.values()) or 1.0
        parts.append("<h3>Wall time per stage</h3>")
        trows = [(k, round(v, 1), f"{100 * v / total:.0f}%") for k, v in timings.items()]
        trows.append(("total", round(sum(timings.values()), 1), ""))
        parts.append(_table(["stage", "seconds", "share"], trows))
    return parts


# Label-free per-round signals of the pipeline (docs/clustering.md), shown before the ground-truth columns.
ROUND_SIGNALS = (
    "round",
    "num_clusters",
    "silhouette",
    "agreement_previous",
    "trained_on",
    "heldout_accuracy",
    "attention_distinctiveness",
    "inverted",
)


def _cell(value: Any) -> Any:
    return ("yes" if value else "no") if isinstance(value, bool) else value


def _rounds_section(rounds: list[dict[str, Any]]) -> list[str]:
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
        _table(keys, [[_cell(r.get(k, "")) for k in keys] for r in rounds]),
    ]
    if all(k in r for r in rounds for k in CLUSTER_KEYS[:3]):
        parts.append(_img(_png(_rounds_plot(rounds)), "clustering metrics per round"))
    return parts


def _detection_section(detection: dict[str, Any]) -> list[str]:
    parts = ["<h2>Detection on the test videos</h2><p>ActivityNet-protocol AP (%) per class and tIoU.</p>"]
    for name, res in detection.items():
        heads = [f"{t:.2f}" for t in res["tiou_thresholds"]]
        parts.append(f"<h3>{_esc(_MAPPING_NAMES.get(name, name))}: average mAP {100 * res['average_map']:.2f}%</h3>")
        rows = [["mAP", *[round(100 * m, 2) for m in res["map_per_tiou"]], round(100 * res["average_map"], 2), ""]]
        for c, ap in res["ap"].items():
            rows.append([c, *[round(100 * a, 2) for a in ap], round(100 * float(np.mean(ap)), 2), res["num_gt"][c]])
        parts.append(_table(["class \\ tIoU", *heads, "avg", "instances"], rows))
    return parts


def _cluster_section(
    ds: FeatureDataset,
    assign: dict[str, int],
    detections: Mapping[str, Sequence[Mapping[str, Any]]],
    sources: Mapping[str, Path],
    colors: Mapping[str, Any],
) -> list[str]:
    clusters = sorted(set(assign.values()))
    parts = ["<h2>Clusters</h2>"]
    classes = ds.classes
    if classes and any(len(ds.annotation(v).labels) for v in assign if v in ds.annotations):
        table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
        for v, k in assign.items():
            if v in ds.annotations:
                for lab in ds.annotation(v).video_labels:
                    table[clusters.index(k), classes.index(lab)] += 1
        shade = table / np.maximum(table.max(axis=1, keepdims=True), 1)
        parts.append(
            "<h3>Cluster-to-class matrix</h3><p>Training videos of each cluster carrying each class (reported "
            "only; ground truth never reaches training).</p>"
        )
        parts.append(
            _table(
                ["cluster \\ class", *classes],
                [[k, *row] for k, row in zip(clusters, table.tolist(), strict=True)],
                shade,
            )
        )
    parts.append(
        "<h3>What each cluster holds</h3><p>Training videos assigned to the cluster and the test detections the "
        "final model labels with it, highest score first.</p>"
    )
    by_label: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for vid, dets in detections.items():
        for d in dets:
            by_label.setdefault(str(d["label"]), []).append((vid, d))
    for k in clusters:
        members = sorted(v for v, c in assign.items() if c == k)
        top = sorted(by_label.get(str(k), []), key=lambda x: -x[1]["score"])[:_TOP_PER_CLUSTER]
        shown = ", ".join(members[:15]) + (f", ... (+{len(members) - 15})" if len(members) > 15 else "")
        parts.append(f'<div class="cluster"><h3>cluster {k}: {len(members)} training videos</h3>')
        parts.append(f"<p class=muted>members: {_esc(shown)}</p>")
        if top:
            rows = [
                (vid, f"{d['segment'][0]:.1f}-{d['segment'][1]:.1f} s", round(float(d["score"]), 3)) for vid, d in top
            ]
            parts.append(_table(["top detections: video", "segment", "score"], rows))
            thumbs = _thumbnails(top, sources)
            if thumbs:
                parts.append('<div class="thumbs">' + "".join(thumbs) + "</div>")
        else:
            parts.append("<p class=muted>no test detection carries this cluster.</p>")
        parts.append("</div>")
    return parts


def _thumbnails(top: Sequence[tuple[str, Mapping[str, Any]]], sources: Mapping[str, Path]) -> list[str]:
    """Keyframe at the middle of each detection whose video file is known."""
    out = []
    for vid, d in top:
        if vid not in sources:
            continue
        mid = 0.5 * (float(d["segment"][0]) + float(d["segment"][1]))
        try:
            ((_, image),) = keyframes(sources[vid], [mid])
        except (DataError, ValueError):
            continue  # an unreadable video loses its picture, not the report
        out.append(_img(_png_array(image), f"{vid} at {mid:.1f} s"))
    return out


def write_report_html(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    videos: Sequence[str] = (),
    per_end: int = 2,
    out: str | os.PathLike | None = None,
) -> Path:
    """Write the run's report (default ``RUN/report.html``); see the module docstring for what it shows.

    Args:
        run_dir: a finished ``cotal fit`` run directory.
        data: the dataset it was fitted on (default: the one recorded in ``run.json``).
        videos: test video ids drawn first; then the ``per_end`` best and worst by AP.
        out: where to write the page.
    Raises:
        DataError: not a finished run, the dataset cannot be found, or an unknown video id.
    """
    import matplotlib

    matplotlib.use("Agg")
    from cotal.evaluate import read_detections
    from cotal.evaluate.formats import read_clusters

    run_dir = Path(run_dir)
    layout = RunLayout.of(run_dir)
    if not layout.final.is_file() or not layout.metrics.is_file():
        raise DataError(f"{run_dir}: no final.json/metrics.json; is this a finished `cotal fit` run directory?")
    metrics = read_json(layout.metrics)
    final = read_json(layout.final)
    run_info = read_json(layout.run_info) if layout.run_info.exists() else {}
    config = read_yaml(layout.config) if layout.config.exists() else {}
    data = data if data is not None else run_info.get("data")
    if data is None:
        raise DataError(f"{run_dir}: run.json does not say which dataset was used; pass --data")
    ds = FeatureDataset(data)
    unknown = [v for v in videos if v not in ds.annotations]
    if unknown:
        raise DataError(f"{data}: no video {unknown[0]!r} (asked for in --video)")
    class_names = final.get("class_names", [])
    try:
        sources = video_sources(data)
    except ConfigError:
        sources = {}  # no video decoding without the [extract] extra: a page without pictures
    colors = _colors(sorted(set(class_names) | set(ds.classes)))
    dets = read_detections(layout.detections_test) if layout.detections_test.exists() else {}
    assign = read_clusters(layout.clusters) if layout.clusters.exists() else None

    parts = [f"<h1>cotal run {_esc(run_dir.name)}</h1>"]
    parts += _context_section(run_dir, ds, metrics, config, run_info, final)
    if metrics.get("rounds"):
        parts += _rounds_section(metrics["rounds"])
    parts += _curves_section(layout)
    if metrics.get("detection"):
        parts += _detection_section(metrics["detection"])
    if assign:
        parts += _cluster_section(ds, assign, dets, sources, colors)
    outs = _final_outputs(layout, final)
    if dets and outs:
        tious = config.get("pipeline", {}).get("tiou_thresholds", [0.3, 0.5, 0.7])
        parts += _test_videos_section(
            ds, outs, dets, assign, class_names, colors, sources, tious, videos, per_end, run_dir
        )
    path = Path(out) if out is not None else layout.report
    _write_page(path, f"cotal report: {run_dir.name}", parts)
    return path


def _curves_section(layout: RunLayout) -> list[str]:
    """The training losses of every model of every round (nothing when no model logged a step)."""
    logs = {}
    for r, name, path in layout.train_logs():
        log = read_train_log(path)
        if "step" in log:
            logs[f"round {r}, {name} model"] = log
    if not logs:
        return []
    return [
        "<h2>Training curves</h2><p>Losses of every model, averaged over each logging interval.</p>",
        _img(_png(_curves_plot(logs)), "training losses"),
    ]


def _test_videos_section(
    ds: FeatureDataset,
    outs: dict[str, dict[str, dict[str, np.ndarray]]],
    dets: dict[str, list[dict]],
    assign: dict[str, int] | None,
    class_names: Sequence[str],
    colors: dict[str, str],
    sources: dict[str, Path],
    tious: Sequence[float],
    videos: Sequence[str],
    per_end: int,
    where: Path,
) -> list[str]:
    """Timelines of the asked-for videos, then the ``per_end`` best and worst test videos by AP (``where``: the run
    folder, for error messages)."""
    from cotal.evaluate import apply_mapping, build_mapping

    class_dets = dets
    if assign and ds.classes:
        class_dets = apply_mapping(dets, build_mapping(assign, ds.annotations, method="hungarian"))
    scores = per_video_map(ds, {v: class_dets.get(v, []) for v in ds.test_ids}, tious)
    drawable = [v for v in ds.test_ids if all(v in o for o in outs.values())]
    missing = [v for v in videos if v not in drawable]
    if missing:
        raise DataError(f"{where}: video {missing[0]!r} is not a test video of this run (no model outputs)")
    chosen = choose_videos(drawable, list(videos), {v: s for v, s in scores.items() if v in drawable}, per_end)
    parts = [
        "<h2>Test videos</h2><p>Hatched: ground truth. Bars: the highest-scoring detections, one lane each, "
        "named by label and score"
        + (" (labels are cluster ids; AP ranks use the Hungarian cluster-to-class mapping)" if assign else "")
        + ". Curves: class-agnostic attention S of each model and the class activation of the top detection's "
        "label, each scaled to [0, 1].</p>"
    ]
    for vid, why in chosen:
        dur = ds.annotation(vid).duration
        frames = None
        if vid in sources:
            try:
                frames = keyframes(sources[vid], [(i + 0.5) * dur / _FILMSTRIP for i in range(_FILMSTRIP)])
            except DataError:
                frames = None  # an unreadable video loses its filmstrip, not the report
        fig = _timeline_plot(
            ds, vid, {n: o[vid] for n, o in outs.items()}, dets.get(vid, []), class_names, colors, frames
        )
        parts.append(f"<h3>{_esc(f'{vid} ({why}; {dur:.1f} s)')}</h3>" + _img(_png(fig), f"timeline of {vid}"))
    return parts


def _write_page(path: Path, title: str, parts: Sequence[str]) -> None:
    """One self-contained HTML file (a CSP forbids every request), written atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>\n"
        )
        fh.write("\n".join(parts))
        fh.write("\n</body></html>\n")
