"""Training throughput of the co-attention model: padded batches (with/without length bucketing) vs the authors'
one-video-at-a-time loop, and the step's achieved GFLOP/s against this machine's measured matmul GFLOP/s.

One training step = forward + loss (L_cls + alpha L_trip + beta L_abs) + backward + Adam step on a batch of
``--batch-size`` videos drawn by the Z x K + fill sampler from a pool of synthetic videos with THUMOS-like
lengths (uniform in [--min-len, --max-len] snippets, features D = --in-dim). All modes see the same batches.

    mode "loop":     each video through the model alone (B = 1, no padding), outputs gathered, loss summed over
                     the batch (the authors' training loop).
    mode "padded":   one zero-padded, masked batch.
    mode "bucketed": the batch run as length-sorted chunks (cotal.train.batching.forward_bucketed).

Snippets/s counts valid snippets only. "useful GFLOP/s" = FLOPs of the unpadded computation (counted with
torch.utils.flop_counter.FlopCounterMode on the loop mode: forward, backward and the non-local attention, whose
CPU kernel the counter does not know by itself) / step time; padded modes do extra, wasted work. The share of
the matmul rate divides that by a 2048^3 float32 matmul measured in the same run (run with --threads 1 and 2).
--profile MODE prints a torch.profiler table of 1 warm-up + --steps steps of that mode (no FLOP counting).

Example (CPU): python benchmarks/train_throughput.py --steps 4 --threads 2
GPU:           python benchmarks/train_throughput.py --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from cotal.model import CoAttentionLoss, CoAttentionModel, CoAttentionOutput, LossConfig
from cotal.train.batching import collate, collate_mask, forward_bucketed
from cotal.train.sampler import ClusterBatchSampler, label_targets
from cotal.utils.precision import autocast

OUTPUT_NAMES = ("cas", "attention", "x_cs", "x_ca", "logits")

# FlopCounterMode knows the CUDA attention kernels but not the CPU one, so the non-local block's two attention
# matmuls (and their backward) would count as 0 FLOPs on CPU.
CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *a, **kw: sdpa_flop_count(q, k, v),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        lambda grad_out, q, k, v, *a, **kw: sdpa_backward_flop_count(grad_out, q, k, v)
    ),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` float32 GFLOP/s of an n x n x n torch.matmul."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def forward_loop(model: CoAttentionModel, seqs: list[torch.Tensor]) -> tuple[CoAttentionOutput, torch.Tensor]:
    """The authors' way: one video at a time at full length; outputs padded afterwards only to share the loss code
    (the padding of outputs is cheap and the loss equals the per-video sum, see tests/model)."""
    parts = [model(s.unsqueeze(0)) for s in seqs]
    t_max = max(s.shape[0] for s in seqs)

    def merge(name: str) -> torch.Tensor:
        tensors = [getattr(p, name) for p in parts]
        if name != "logits":
            tensors = [F.pad(t, (0, 0) * (t.dim() - 2) + (0, t_max - t.shape[1])) for t in tensors]
        return torch.cat(tensors)

    out = CoAttentionOutput(**{n: merge(n) for n in OUTPUT_NAMES})
    return out, collate_mask([s.shape[0] for s in seqs], device=seqs[0].device)


def run_mode(
    mode: str, batches: list[dict], args: argparse.Namespace, device: torch.device, count_flops: bool = True
) -> dict:
    torch.manual_seed(args.seed)
    model = CoAttentionModel(args.in_dim, args.num_classes).to(device).train()
    # "sum" for the loop mirrors the authors' summed loss; the padded modes use the default "mean" (same cost).
    loss_fn = CoAttentionLoss(LossConfig(alpha=0.1, reduction="sum" if mode == "loop" else "mean"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)

    def step(batch: dict) -> None:
        seqs = batch["seqs"]
        with autocast(device, args.precision):  # as the trainer: the forward pass only, losses in float32
            if mode == "loop":
                out, mask = forward_loop(model, seqs)
            elif mode == "padded":
                x, mask = collate(seqs, device=device)
                out = model(x, mask)
            else:
                out, mask = forward_bucketed(model, seqs, chunk_cost=args.chunk_cost, device=device)
        if args.precision != "float32":
            out = CoAttentionOutput(**{n: getattr(out, n).float() for n in OUTPUT_NAMES})
        total, _ = loss_fn(out, mask, batch["targets"], batch["groups"])
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    for batch in batches[: args.warmup]:
        step(batch)
    _sync(device)
    times = []
    for batch in batches[args.warmup :]:
        start = time.perf_counter()
        step(batch)
        _sync(device)
        times.append(time.perf_counter() - start)
    flops = None
    if count_flops:
        with FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
            step(batches[-1])
        flops = counter.get_total_flops()
    snippets = [sum(s.shape[0] for s in b["seqs"]) for b in batches[args.warmup :]]
    return {
        "mode": mode,
        "step_s_median": float(np.median(times)),
        "snippets_per_s": float(np.sum(snippets) / np.sum(times)),
        "gflop_last_batch": flops / 1e9 if flops is not None else None,
        "snippets_last_batch": snippets[-1],
    }


def make_batches(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    lengths = rng.integers(args.min_len, args.max_len + 1, size=args.pool)
    labels = rng.integers(0, args.num_classes, size=args.pool)
    feats = [
        torch.randn(int(t), args.in_dim, generator=torch.Generator().manual_seed(i)) for i, t in enumerate(lengths)
    ]
    targets = torch.from_numpy(label_targets(labels, args.num_classes))
    sampler = ClusterBatchSampler(labels, batch_size=args.batch_size, seed=args.seed)
    batches = []
    for _ in range(args.warmup + args.steps):
        b = sampler.sample()
        idx = torch.from_numpy(b.indices)
        batches.append(
            {
                "seqs": [feats[i].to(device) for i in b.indices],
                "targets": targets[idx].to(device),
                "groups": torch.from_numpy(b.groups).to(device),
            }
        )
    return batches


def profile_mode(mode: str, batches: list[dict], args: argparse.Namespace, device: torch.device) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sub = argparse.Namespace(**{**vars(args), "warmup": 1})
    with profile(activities=activities) as prof:
        run_mode(mode, batches[: 1 + args.steps], sub, device, count_flops=False)
    sort = "cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.profile_rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--modes", default="loop,padded,bucketed")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=4, help="timed steps per mode")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--pool", type=int, default=200, help="synthetic videos to draw batches from")
    p.add_argument("--min-len", type=int, default=50)
    p.add_argument("--max-len", type=int, default=750)
    p.add_argument("--in-dim", type=int, default=1024)
    p.add_argument("--num-classes", type=int, default=20)
    p.add_argument(
        "--chunk-cost",
        type=float,
        default=16.0,
        help="bucketing: cost of a chunk in padded snippets (the trainer's: 16)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="float32", choices=["float32", "bf16"], help="train.precision of the step")
    p.add_argument("--profile", default=None, help="print a torch.profiler table for this mode and exit")
    p.add_argument("--profile-rows", type=int, default=25)
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {torch.get_num_threads()}")
    batches = make_batches(args, device)
    if args.profile:
        profile_mode(args.profile, batches, args, device)
        return 0
    peak_before = matmul_gflops(device)
    results = {m: run_mode(m, batches, args, device) for m in args.modes.split(",")}
    # Contention makes single measurements noisy: take the larger of a measurement before and after the runs.
    peak = max(peak_before, matmul_gflops(device))
    print(f"matmul peak (2048^3 fp32 torch.matmul, best of 10, before/after the runs): {peak:.1f} GFLOP/s")
    # Useful FLOPs per snippet: the unpadded (loop) computation on the same last batch.
    useful = results["loop"]["gflop_last_batch"] / results["loop"]["snippets_last_batch"] if "loop" in results else None
    for r in results.values():
        r["useful_gflop_per_s"] = useful * r["snippets_per_s"] if useful else None
        frac = f"= {100 * r['useful_gflop_per_s'] / peak:5.1f}% of matmul peak" if useful else ""
        print(
            f"{r['mode']:>9}: {r['snippets_per_s']:7.0f} snippets/s  median step {r['step_s_median']:6.3f} s  "
            f"counted {r['gflop_last_batch']:6.1f} GFLOP on the last batch  "
            f"useful {r['useful_gflop_per_s'] or float('nan'):5.1f} GFLOP/s {frac}"
        )
    if "loop" in results:
        for m, r in results.items():
            if m != "loop":
                print(f"speed-up of {m} over loop: {r['snippets_per_s'] / results['loop']['snippets_per_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"matmul_gflops": peak, "results": results, "args": vars(args)}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
