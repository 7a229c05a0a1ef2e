"""Training-step time under CPU contention: default thread settings against one thread.

Each configuration runs in a fresh interpreter (OpenMP reads ``OMP_WAIT_POLICY`` once, when PyTorch loads):

    1 thread          torch.set_num_threads(1)
    default, ACTIVE   torch's default thread count, OpenMP threads spin-wait (torch's own default)
    default, PASSIVE  torch's default thread count, idle threads sleep (what the `cotal` command sets)

and each runs twice: alone, and beside one competing CPU-bound process (a pure-Python busy loop), which is
what a shared machine looks like. A training step = forward + loss + backward + Adam on a batch of
``--batch-size`` synthetic videos (D = --in-dim, lengths in [--min-len, --max-len]). Printed: median step
time and the ratio to the one-thread time in the same scenario. Target (issue 13): the PASSIVE default is
<= 1.3x the one-thread time under contention and faster than one thread when alone.

Example: python benchmarks/thread_contention.py --steps 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = (("1 thread", 1, "PASSIVE"), ("default, ACTIVE", 0, "ACTIVE"), ("default, PASSIVE", 0, "PASSIVE"))


def worker(args: argparse.Namespace) -> None:
    """Time ``args.steps`` training steps in this process; print one JSON line."""
    import numpy as np
    import torch

    from cotal.model import CoAttentionLoss, CoAttentionModel, LossConfig, ModelConfig
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
    model = CoAttentionModel(ModelConfig(in_dim=args.in_dim, num_classes=classes)).train()
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


def measure(args: argparse.Namespace, threads: int, policy: str) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    cmd = [sys.executable, __file__, "--worker", "--threads", str(threads)]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
    cmd += ["--in-dim", str(args.in_dim), "--min-len", str(args.min_len), "--max-len", str(args.max_len)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=8, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--in-dim", type=int, default=512)
    p.add_argument("--min-len", type=int, default=100)
    p.add_argument("--max-len", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"cores usable {len(os.sched_getaffinity(0))}, load average before {os.getloadavg()}")
    for scenario in ("alone", "beside 1 busy process"):
        busy = None
        if scenario != "alone":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            rows = [(name, measure(args, threads, policy)) for name, threads, policy in CONFIGS]
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        one = rows[0][1]["step_s"]
        print(f"{scenario} (load average {os.getloadavg()[0]:.2f}):")
        for name, r in rows:
            print(f"  {name:>17} ({r['threads']} threads): {r['step_s']:.3f} s/step  {r['step_s'] / one:.2f}x 1 thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
