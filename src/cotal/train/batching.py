"""Padding, cropping and length bucketing of variable-length feature sequences.

Shapes: a sequence is (T_i, D); a padded batch is x (B, T_max, D) with mask (B, T_max) bool (True = valid).
Training crops videos longer than ``max_len`` snippets to a random contiguous window (W-TALC: 750); inference
uses the full sequence.
Bucketing runs a batch as a few length-sorted chunks so padding stays small, then reassembles one padded
:class:`~cotal.model.CoAttentionOutput` in the original order, ready for the losses (:func:`plan_buckets`);
inference chunks its videos under memory caps instead (:func:`capped_buckets`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cotal.errors import ConfigError, DataError
from cotal.model.coattention import CoAttentionModel, CoAttentionOutput

# Cost of one more forward call of a CPU training batch, in padded snippets (benchmarks/train_throughput.py
# measures the trade-off; docs/training.md).
CHUNK_COST = 16.0


def collate(
    seqs: Sequence[np.ndarray | Tensor], *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Zero-pad sequences (T_i, D) into x (B, T_max, D) and mask (B, T_max) bool."""
    if not seqs:
        raise DataError("collate: empty list of sequences")
    tensors = [torch.as_tensor(np.asarray(s) if not isinstance(s, Tensor) else s) for s in seqs]
    dim = tensors[0].shape[-1] if tensors[0].dim() == 2 else None
    for i, t in enumerate(tensors):
        if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] != dim:
            raise DataError(f"collate: sequence {i} has shape {tuple(t.shape)}, expected (T>0, {dim})")
    lengths = torch.tensor([t.shape[0] for t in tensors])
    x = torch.empty(len(tensors), int(lengths.max()), dim, dtype=dtype, device=device)
    for i, t in enumerate(tensors):  # zero only the padding: the input is the largest tensor of a step
        x[i, : t.shape[0]] = t.to(device=device, dtype=dtype)
        x[i, t.shape[0] :] = 0
    mask = torch.arange(x.shape[1], device=device).unsqueeze(0) < lengths.to(device).unsqueeze(1)
    return x, mask


def pad_time(x: Tensor, mask: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """Zero-pad x (B, T, D) and mask (B, T) along time to ``length`` >= T."""
    extra = length - x.shape[1]
    if extra == 0:
        return x, mask
    return torch.nn.functional.pad(x, (0, 0, 0, extra)), torch.nn.functional.pad(mask, (0, extra), value=False)


def crop_indices(length: int, max_len: int | None, rng: np.random.Generator) -> np.ndarray:
    """Snippet indices of a random contiguous window of at most ``max_len`` snippets of a ``length``-snippet video
    (W-TALC's crop). Videos not longer than ``max_len`` (or ``max_len=None``) keep every snippet. Use the same
    indices for every stream of a video so RGB and flow stay aligned.
    """
    if max_len is not None and max_len <= 0:
        raise ConfigError(f"max_len must be positive or None, got {max_len}")
    if max_len is None or length <= max_len:
        return np.arange(length)
    start = int(rng.integers(0, length - max_len + 1))
    return np.arange(start, start + max_len)


def plan_buckets(
    lengths: Sequence[int], *, chunk_cost: float = CHUNK_COST, max_chunks: int | None = None
) -> list[np.ndarray]:
    """Split a batch into length-sorted chunks minimising ``sum(chunk size * chunk max length) + chunk_cost * chunks``.

    ``chunk_cost`` is the fixed cost of one more forward call in padded-snippet units (the trainer's
    :data:`CHUNK_COST`; on a GPU one padded batch is usually best). Chunk shapes change the rounding of the
    outputs, so a trained model's last bits depend on it. Exact dynamic programme over the sorted lengths,
    O(B^2). Returns index arrays into ``lengths``, shortest chunk first.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or len(lengths) == 0 or (lengths <= 0).any():
        raise DataError(f"plan_buckets: lengths must be a non-empty list of positive ints, got {lengths.tolist()}")
    order = np.argsort(lengths, kind="stable")
    srt = lengths[order]
    n = len(srt)
    limit = n if max_chunks is None else max(1, min(n, max_chunks))
    # best[k][i]: cheapest cost of the first i sorted videos in k chunks (chunk j..i-1 padded to srt[i-1]).
    best = np.full((limit + 1, n + 1), np.inf)
    cut = np.zeros((limit + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for k in range(1, limit + 1):
        for i in range(k, n + 1):
            j = np.arange(k - 1, i)
            cost = best[k - 1, j] + (i - j) * srt[i - 1] + chunk_cost
            a = int(np.argmin(cost))
            best[k, i], cut[k, i] = cost[a], j[a]
    k = int(np.argmin(best[1:, n])) + 1
    chunks, i = [], n
    while k > 0:
        j = int(cut[k, i])
        chunks.append(order[j:i])
        i, k = j, k - 1
    return chunks[::-1]


def capped_buckets(lengths: np.ndarray, max_videos: int, max_snippets: int) -> list[np.ndarray]:
    """Indices grouped by ascending length: at most ``max_videos`` videos and ``max_snippets`` padded snippets.

    Greedy (each chunk as long as the caps allow): inference's rule, which bounds memory, where
    :func:`plan_buckets` (training) minimises padded compute. Not merged, because a video's outputs change in
    the last bits with the padded shape of its chunk, and each caller's outputs must stay as they are.
    """
    order = np.argsort(lengths, kind="stable")
    buckets: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        # Lengths ascend, so a bucket's padded size is (count) x (length of its last video).
        too_big = end - start > max_videos or (end - start) * lengths[order[end - 1]] > max_snippets
        if too_big and end - 1 > start:
            buckets.append(order[start : end - 1])
            start = end - 1
    buckets.append(order[start:])
    return buckets


def forward_bucketed(
    model: CoAttentionModel,
    seqs: Sequence[np.ndarray | Tensor],
    *,
    chunk_cost: float = CHUNK_COST,
    max_chunks: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[CoAttentionOutput, Tensor]:
    """Run ``model`` on the sequences in length buckets; return outputs padded to the batch (original order).

    Equivalent to ``model(*collate(seqs))`` (padding never leaks into a video's outputs) but with less padded
    compute. Returns (outputs with tensors (B, T_max, ...), mask (B, T_max)).
    """
    lengths = [int(s.shape[0]) for s in seqs]
    chunks = plan_buckets(lengths, chunk_cost=chunk_cost, max_chunks=max_chunks)
    if len(chunks) == 1:
        return model(*collate(seqs, dtype=dtype, device=device)), collate_mask(lengths, device=device)
    parts = []
    for idx in chunks:
        x, mask = collate([seqs[i] for i in idx], dtype=dtype, device=device)
        parts.append(model(x, mask))
    device = parts[0].logits.device
    rows = tuple(torch.from_numpy(idx).to(device) for idx in chunks)
    names = ("cas", "attention", "x_cs", "x_ca", "logits")
    # Every output but the logits (B,C) is time-major.
    merged = {n: _Merge.apply(len(lengths), rows, n != "logits", *(getattr(p, n) for p in parts)) for n in names}
    out = CoAttentionOutput(**merged)
    return out, collate_mask(lengths, device=device)


class _Merge(torch.autograd.Function):
    """Chunk outputs (n_c, T_c, ...) -> one (B, T_max, ...) tensor, chunk c's videos at rows ``rows[c]``.

    Written once into a zero tensor (outputs are already 0 on padding); the backward gathers each chunk's rows.
    Autograd of pad + cat + index_select would copy every output three times and scatter the gradient back.
    """

    @staticmethod
    def forward(ctx, batch: int, rows: tuple[Tensor, ...], timed: bool, *parts: Tensor) -> Tensor:  # noqa: ANN001
        if timed:
            out = parts[0].new_zeros(batch, max(p.shape[1] for p in parts), *parts[0].shape[2:])
        else:
            out = parts[0].new_empty(batch, *parts[0].shape[1:])
        for idx, part in zip(rows, parts, strict=True):
            (out.narrow(1, 0, part.shape[1]) if timed else out).index_copy_(0, idx, part)
        ctx.rows, ctx.lengths = rows, [p.shape[1] if timed else None for p in parts]
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple:  # noqa: ANN001
        rows = zip(ctx.rows, ctx.lengths, strict=True)
        return (None, None, None, *[(grad if t is None else grad.narrow(1, 0, t)).index_select(0, i) for i, t in rows])


def collate_mask(lengths: Sequence[int], *, device: torch.device | str | None = None) -> Tensor:
    """Mask (B, max(lengths)) bool, True on the first lengths[b] steps of row b."""
    lens = torch.as_tensor(list(lengths), device=device)
    return torch.arange(int(lens.max()), device=device).unsqueeze(0) < lens.unsqueeze(1)
