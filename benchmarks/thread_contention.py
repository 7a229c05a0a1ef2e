"""Training-step time under CPU contention: default thread settings against one thread.

Each configuration runs in a fresh interpreter (OpenMP reads ``OMP_WAIT_POLICY`` once, when PyTorch loads):

    1 thread          torch.set_num_threads(1)
    default, ACTIVE   torch's default thread count, OpenMP threads spin-wait (torch's own default)
    default, PASSIVE  torch's default thread count, idle threads sleep (what the `cotal` command sets)

and each runs twice: alone, and beside one competing CPU-bound process (a pure-Python busy loop), which is
what a shared machine looks like. ``--spin N`` adds "default, PASSIVE, GOMP_SPINCOUNT=N" (threads spin N
pause instructions before they sleep: libgomp's own setting; other OpenMP runtimes ignore it).

A training step = forward + loss + backward + Adam on a batch of synthetic videos, at two sizes (``--sizes``):

    train   the trainer's default batch: 32 videos of 50-750 snippets, D = 1024 (I3D features): ~1 s per step
    small   8 videos of 100-300 snippets, D = 512: ~0.07 s per step, where thread start-up costs weigh most

Printed: median step time and the ratio to the one-thread time in the same scenario and size. Target (issue
13): the PASSIVE default is <= 1.3x the one-thread time under contention and faster than one thread when alone.

Example: python benchmarks/thread_contention.py --steps 6 [--sizes train small] [--spin 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = (
    ("1 thread", 1, "PASSIVE", None),
    ("default, ACTIVE", 0, "ACTIVE", None),
    ("default, PASSIVE", 0, "PASSIVE", None),
)
# (videos per batch, D, shortest, longest video in snippets)
SIZES = {"train": (32, 1024, 50, 750), "small": (8, 512, 100, 300)}


def worker(args: argparse.Namespace) -> None:
    """Time ``args.steps`` training steps in this process; print one JSON line."""
    import numpy as np
    import torch

    from cotal.model import CoAttentionLoss, CoAttentionModel, LossConfig
    from cotal.train.batching import collate

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(args.min_len, args.max_len + 1, size=args.batch_size)
    seqs = [torch.randn(int(t), args.in_dim) for t in lengths]
    classes = 4
    groups = torch.arange(args.batch_size) % classes
    targets = torch.nn.functional.one_hot(groups, classes).float()
    model = CoAttentionModel(args.in_dim, classes).train()
    loss_fn = CoAttentionLoss(LossConfig(alpha=0.1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, mask = collate(seqs)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        total, _ = loss_fn(model(x, mask), mask, targets, groups)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    print(json.dumps({"step_s": float(np.median(times)), "threads": torch.get_num_threads()}))


def measure(args: argparse.Namespace, size: str, threads: int, policy: str, spin: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | {"OMP_WAIT_POLICY": policy}
    if spin is not None:
        env["GOMP_SPINCOUNT"] = str(spin)
    batch, dim, shortest, longest = SIZES[size]
    cmd = [sys.executable, __file__, "--worker", "--threads", str(threads)]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(batch)]
    cmd += ["--in-dim", str(dim), "--min-len", str(shortest), "--max-len", str(longest)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["train", "small"])
    p.add_argument("--spin", type=int, default=None, help="also: PASSIVE with GOMP_SPINCOUNT=N")
    p.add_argument("--batch-size", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--in-dim", type=int, default=512, help=argparse.SUPPRESS)
    p.add_argument("--min-len", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("--max-len", type=int, default=300, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"cores usable {len(os.sched_getaffinity(0))}, load average before {os.getloadavg()}")
    configs = list(CONFIGS)
    if args.spin is not None:
        configs.append((f"PASSIVE, spin {args.spin}", 0, "PASSIVE", args.spin))
    for size in args.sizes:
        for scenario in ("alone", "beside 1 busy process"):
            busy = None
            if scenario != "alone":
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                rows = [(name, measure(args, size, *setting)) for name, *setting in configs]
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            one = rows[0][1]["step_s"]
            print(f"{size} step, {scenario} (load average {os.getloadavg()[0]:.2f}):", flush=True)
            for name, r in rows:
                ratio = r["step_s"] / one
                print(f"  {name:>20} ({r['threads']} threads): {r['step_s']:.3f} s/step  {ratio:.2f}x 1 thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
