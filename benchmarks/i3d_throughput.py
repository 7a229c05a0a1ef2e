"""Throughput of the I3D network alone (no decoding, no flow): RGB snippets/s at one input size and precision.

Random weights and random 16-frame clips (only speed is measured), in the inference form ``cotal extract`` runs
(:func:`~cotal.features.i3d.optimize_for_inference`; ``--plain`` times the module as built). ``--batch 0``
picks a batch for the card: 32 snippets at 224 px with >= 40 GiB of GPU memory, 16 with >= 16 GiB, else 8
(4 on a CPU).

    .venv/bin/python benchmarks/i3d_throughput.py --device cuda --precision float32 bf16 fp16
"""

from __future__ import annotations

import argparse
import time
import typing

import torch

from cotal.features import InceptionI3d
from cotal.features.config import Precision
from cotal.features.i3d import optimize_for_inference
from cotal.utils.device import DEVICE_SPECS, select_device
from cotal.utils.precision import autocast


def pick_batch(device: torch.device) -> int:
    if device.type != "cuda":
        return 4
    gib = torch.cuda.get_device_properties(device).total_memory / 2**30
    return 32 if gib >= 40 else 16 if gib >= 16 else 8


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help=DEVICE_SPECS)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=0, help="snippets per call; 0 = chosen for the device")
    p.add_argument("--precision", nargs="+", default=["float32", "bf16"], choices=typing.get_args(Precision))
    p.add_argument("--calls", type=int, default=10, help="timed network calls per precision")
    p.add_argument("--plain", action="store_true", help="time the plain module, not the inference form")
    args = p.parse_args(argv)
    device = select_device(args.device)
    batch = args.batch or pick_batch(device)
    net = InceptionI3d().eval()
    if not args.plain:  # as in cotal extract: channels_last_3d on the CPU only
        net = optimize_for_inference(net, channels_last=device.type == "cpu")
    net = net.to(device)
    x = torch.rand(batch, 3, 16, args.size, args.size, device=device) * 2 - 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"I3D RGB features, {args.size} px, batch {batch}, device {name}")
    ref = None
    for precision in args.precision:
        with torch.inference_mode(), autocast(device, precision):
            net.features(x)  # warm-up (cuDNN autotuning, allocator)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(args.calls):
                out = net.features(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
        out = out.float()
        ref = out if ref is None else ref
        err = float((out - ref).norm() / ref.norm())
        rate = batch * args.calls / elapsed
        print(f"  {precision:>7}: {rate:8.1f} snippets/s  (relative difference to the first precision {err:.2e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
