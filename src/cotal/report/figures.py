"""The report's plots, drawn with matplotlib (Agg backend) and returned as base64 PNG text for ``data:`` URIs."""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from cotal.data import FeatureDataset
from cotal.model.outputs import VideoOutput
from cotal.report.data import NOT_LOSSES
from cotal.report.records import CLUSTER_KEYS

_MAX_LANES = 8  # detections drawn per timeline, one lane each


@contextlib.contextmanager
def plain_text() -> Iterator[None]:
    """Draw off-screen (Agg: no display, no GUI toolkit) with every text shown as written: labels, loss and lane
    names are data, so ``$x^2$`` or ``a_b`` is never math or TeX (matplotlib would parse it, and fail on some)."""
    import matplotlib

    matplotlib.use("Agg")
    with matplotlib.rc_context({"text.usetex": False, "text.parse_math": False}):
        yield


def figure_png(fig) -> str:
    """Base64 PNG of a matplotlib figure, which is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def image_png(image: np.ndarray) -> str:
    """Base64 PNG of an (H, W, 3) uint8 image."""
    import matplotlib.image

    buf = io.BytesIO()
    matplotlib.image.imsave(buf, image, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def class_colors(labels: Sequence[str]) -> dict[str, Any]:
    """A colour per label (by sorted name), shared by every timeline."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {lab: cmap(i % cmap.N) for i, lab in enumerate(sorted(labels))}


def rounds_plot(rounds: list[dict[str, Any]]):
    """Purity, ARI and NMI (geometric) of each clustering round."""
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


def auto_c_plot(scores: Mapping[int, float], chosen: int):
    """The silhouette of every C tried by ``--clusters auto``, the chosen C marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    ks = sorted(scores)
    ax.plot(ks, [scores[k] for k in ks], marker=".", lw=1)
    ax.axvline(chosen, color="black", ls="--", lw=1)
    ax.set_xlabel("number of clusters C")
    ax.set_ylabel("silhouette")
    ax.set_title(f"C = {chosen}: the highest silhouette", fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def curves_plot(logs: dict[str, dict[str, np.ndarray]]):
    """One panel per model (of every round): every loss column against the update step."""
    import matplotlib.pyplot as plt

    n = len(logs)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, log) in zip(axes.flat, logs.items(), strict=False):
        for k, v in log.items():
            if k not in NOT_LOSSES:
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


def timeline_plot(
    ds: FeatureDataset,
    vid: str,
    outputs: Mapping[str, VideoOutput],
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
        s_att = out.attention.astype(np.float64)
        t = ds.timing.to_seconds(np.arange(len(s_att)) + 0.5)
        ax.plot(t, s_att / max(s_att.max(), 1e-12), lw=1.2, label=f"attention S ({name})")
    if top and t is not None and top[0]["label"] in class_names:
        c = list(class_names).index(top[0]["label"])
        cas = np.mean([o.cas[:, c].astype(np.float64) for o in outputs.values()], axis=0)
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
