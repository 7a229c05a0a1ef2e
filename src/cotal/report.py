"""Human-readable results of a run: console tables and a self-contained ``report.html`` with plots."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from cotal.data import FeatureDataset
from cotal.utils.io import atomic_open, read_json
from cotal.utils.outdir import path_inside

CLUSTER_KEYS = ("purity", "ari", "nmi_geometric", "nmi_arithmetic")


def clustering_table(rounds: list[dict[str, Any]]) -> str:
    """Per-round clustering metrics in the paper's format (one row per clustering)."""
    if not rounds:
        return ""
    keys = [k for k in CLUSTER_KEYS if k in rounds[0]]
    head = "round  pooling      C  " + "".join(k.rjust(15) for k in keys)
    lines = [head]
    for row in rounds:
        pooling = "mean" if row["round"] == 0 else f"S of model {row['round']}"
        lines.append(
            f"{row['round']:>5}  {pooling:<11}{row['num_clusters']:>3}  " + "".join(f"{row[k]:15.3f}" for k in keys)
        )
    return "\n".join(lines)


def map_table(detection: dict[str, Any]) -> str:
    """mAP (%) per tIoU for each mapping (unsupervised) or the weak result."""
    lines = []
    for name, res in detection.items():
        if not lines:
            lines.append("mAP (%) @ tIoU".ljust(18) + "".join(f"{t:7.2f}" for t in res["tiou_thresholds"]) + "    avg")
        maps = [*res["map_per_tiou"], res["average_map"]]
        label = {"soft": "clusters, soft map", "hungarian": "clusters, hungarian", "weak": "weakly supervised"}[name]
        lines.append(label.ljust(18) + "".join(f"{100 * m:7.2f}" for m in maps))
    return "\n".join(lines)


def print_summary(metrics: dict[str, Any]) -> None:
    if metrics.get("rounds"):
        print("\nClustering of the training videos (reported only; ground truth is never used to fit):")
        print(clustering_table(metrics["rounds"]))
    if metrics.get("detection"):
        print("\nDetection on the test videos:")
        print(map_table(metrics["detection"]))
    if metrics.get("timings_s"):
        print("\nWall time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["timings_s"].items()))


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _rounds_plot(rounds: list[dict[str, Any]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    x = [r["round"] for r in rounds]
    for k in CLUSTER_KEYS[:3]:
        if k in rounds[0]:
            ax.plot(x, [r[k] for r in rounds], marker="o", label=k)
    ax.set_xlabel("clustering round (0 = mean pooling)")
    ax.set_xticks(x)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _video_plot(ds: FeatureDataset, vid: str, outputs: dict[str, dict], dets: list[dict], n_top: int = 3):
    """Attention curves of one test video with its ground truth and top detections on the time axis."""
    import matplotlib.pyplot as plt

    ann = ds[vid]
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for name, out in outputs.items():
        s = np.asarray(out["attention"], dtype=np.float64)
        t = ds.timing.to_seconds(np.arange(len(s)) + 0.5)
        ax.plot(t, s / max(s.max(), 1e-12), label=f"S ({name}), max-normalised", lw=1)
    for k, (seg, lab) in enumerate(zip(ann.segments, ann.labels, strict=True)):
        ax.axvspan(
            seg[0], seg[1], ymin=0.0, ymax=0.08, color="green", alpha=0.8, label="ground truth" if k == 0 else None
        )
        if k < 4:
            ax.text(seg[0], 0.1, lab, fontsize=7, color="green")
    top = sorted(dets, key=lambda d: -d["score"])[: n_top * 3]
    for k, d in enumerate(top):
        y = 1.02 + 0.06 * (k % 3)
        ax.plot(d["segment"], [y, y], color="red", lw=3, label="top detections" if k == 0 else None)
    ax.set_xlim(0, ann.duration)
    ax.set_ylim(0, 1.25)
    ax.set_xlabel("seconds")
    ax.set_title(vid, fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    return fig


def write_report_html(run_dir: str | os.PathLike, data: str | os.PathLike, num_videos: int = 4) -> Path:
    """Write ``RUN/report.html``: metric tables, per-round clustering plot, attention curves of a few videos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cotal.evaluate import read_detections
    from cotal.train import load_outputs

    run_dir = Path(run_dir)
    metrics = read_json(run_dir / "metrics.json")
    final = read_json(run_dir / "final.json")
    ds = FeatureDataset(data)
    parts = [f"<h1>cotal run: {html.escape(str(run_dir))}</h1>", f"<p>supervision: {metrics['supervision']}</p>"]
    if metrics.get("rounds"):
        parts.append(
            "<h2>Clustering of the training videos</h2><pre>"
            + html.escape(clustering_table(metrics["rounds"]))
            + "</pre>"
        )
        fig = _rounds_plot(metrics["rounds"])
        parts.append(f'<img src="data:image/png;base64,{_png(fig)}">')
        plt.close(fig)
    if metrics.get("detection"):
        parts.append("<h2>Detection (test videos)</h2><pre>" + html.escape(map_table(metrics["detection"])) + "</pre>")
    det_path = run_dir / "detections_test.json"
    # round_<R>/model_<name>/model.pt -> round_<R>; a path from a run file must stay inside the run
    final_round = path_inside(run_dir, next(iter(final["models"].values())), run_dir / "final.json").parent.parent
    outs = {
        name: load_outputs(final_round / f"outputs_test_{name}.npz")
        for name in final["models"]
        if (final_round / f"outputs_test_{name}.npz").exists()
    }
    if det_path.exists() and outs:
        dets = read_detections(det_path)
        parts.append(
            "<h2>Attention and detections on test videos</h2><p>Green: ground truth; red: the highest-scoring "
            "detections (labels are cluster ids in unsupervised mode); curves: class-agnostic attention S.</p>"
        )
        vids = [v for v in ds.test_ids if v in dets and all(v in o for o in outs.values())][:num_videos]
        for vid in vids:
            fig = _video_plot(ds, vid, {n: o[vid] for n, o in outs.items()}, dets[vid])
            parts.append(f'<img src="data:image/png;base64,{_png(fig)}"><br>')
            plt.close(fig)
    if metrics.get("timings_s"):
        parts.append("<h2>Wall time per stage (s)</h2><pre>" + html.escape(str(metrics["timings_s"])) + "</pre>")
    path = run_dir / "report.html"
    with atomic_open(path, "w") as fh:
        fh.write("<!doctype html><html><head><meta charset='utf-8'><title>cotal report</title></head><body>")
        fh.write("\n".join(parts))
        fh.write("</body></html>\n")
    return path
