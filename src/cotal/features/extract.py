"""From video files to a dataset in the native layout (``rgb/<vid>.npy``, ``flow/<vid>.npy``, metadata).

Pipeline per video: PyAV decode -> nearest-timestamp resampling to ``fps`` -> resize the shorter side ->
centre crop -> snippets of ``stride`` frames (a trailing partial snippet is dropped, matching
:meth:`SnippetTiming.expected_snippets`) -> batches through the backbone. Everything before the backbone
runs in a worker thread (:mod:`cotal.features.decode`), at most ``PREFETCH_BATCHES`` batches ahead, so
decoding and optical flow overlap the network; under ``torchrun`` see :func:`extract_distributed`. What is
written, and how runs and shards share a folder: :mod:`cotal.features.outputs`.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cotal.errors import CotalError
from cotal.features.backbones import Backbones
from cotal.features.config import ExtractConfig
from cotal.features.decode import Prefetcher, Snippets, VideoFailed, VideoStart, decode_videos
from cotal.features.inputs import find_videos, load_ground_truth, shard_ids
from cotal.features.outputs import (
    check_settings,
    merge_outputs,
    missing_streams,
    refuse_foreign_dataset,
    write_video,
)

PREFETCH_BATCHES = 2  # decoded batches waiting for the network: bounds the memory of the decoding worker
GROUP_TIMEOUT = timedelta(days=7)  # ranks that finish early wait this long at the final gather for the others


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
        ConfigError: settings that differ from those of the features already in ``out_dir``, or a device
            that this machine lacks.
    """
    config = config or ExtractConfig()
    start = time.perf_counter()
    out = Path(out_dir)
    report = ExtractReport()
    videos, problems = find_videos(paths)
    report.failed.extend(problems)
    refuse_foreign_dataset(out)
    check_settings(out, config)
    ground_truth = load_ground_truth(config.annotations)

    todo: list[tuple[str, Path, tuple[str, ...]]] = []
    for vid in shard_ids(list(videos), *config.resolved_shard):
        missing = config.streams if config.overwrite else missing_streams(out, vid, config.streams)
        if missing:
            todo.append((vid, videos[vid], missing))
        else:
            report.skipped.append(vid)

    t0 = time.perf_counter()
    nets = Backbones(config) if todo else None
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
    nets: Backbones,
    ground_truth: dict[str, Any],
    report: ExtractReport,
    bar: Any,
) -> None:
    """The network side of the pipeline: consumes the worker's events, writes each finished video."""
    worker_timings: dict[str, float] = defaultdict(float)
    prefetch = Prefetcher(decode_videos(todo, config, nets, worker_timings), PREFETCH_BATCHES)
    current: VideoStart | None = None
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
            if isinstance(event, VideoStart):
                current, feats = event, {s: [] for s in event.streams}
                bar.total += event.expected_snippets
                bar.refresh()
            elif isinstance(event, Snippets):
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
                    if isinstance(event, VideoFailed):
                        raise event.error
                    assert current is not None
                    write_video(current, event.num_frames, feats, out, config, ground_truth)
                except CotalError as e:
                    path = event.path if isinstance(event, VideoFailed) else current.path  # type: ignore[union-attr]
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


def _strip_path(message: str, path: Path) -> str:
    """The reason without the leading '<path>: ' (the report prints the path itself)."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
