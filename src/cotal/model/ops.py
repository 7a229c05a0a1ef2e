"""Small masked tensor operations shared by the model and the losses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.errors import DataError


def check_mask(mask: Tensor | None, x: Tensor) -> Tensor:
    """Return a (B,T) bool mask for ``x`` (B,T,...); ``None`` means every step is valid.

    Raises DataError when the mask has the wrong shape or a video has no valid step (its softmax over time
    would be undefined).
    """
    batch, steps = x.shape[0], x.shape[1]
    if mask is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=x.device)
    if mask.shape != (batch, steps):
        raise DataError(f"mask has shape {tuple(mask.shape)}, expected (B, T) = {(batch, steps)}")
    mask = mask.to(dtype=torch.bool, device=x.device)
    if not bool(mask.any(dim=1).all()):
        raise DataError("a video in the batch has no valid snippet (length 0)")
    return mask


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = 1) -> Tensor:
    """Softmax of ``logits`` over ``dim`` restricted to ``mask``; exactly 0 where ``mask`` is False.

    ``mask`` broadcasts against ``logits`` (e.g. logits (B,T,C), mask (B,T,1)). Every slice must hold at
    least one valid entry (see :func:`check_mask`).
    """
    filled = logits.masked_fill(~mask, float("-inf"))
    return torch.softmax(filled, dim=dim).masked_fill(~mask, 0.0)


def cosine_distance_matrix(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """Pairwise cosine distances ``1 - cos(a_i, b_j)``: a (N,E), b (M,E) -> (N,M)."""
    return 1.0 - F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).transpose(-1, -2)


def cosine_distance(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """Row-wise cosine distances ``1 - cos(a_i, b_i)``: a, b (N,E) -> (N,)."""
    return 1.0 - (F.normalize(a, dim=-1, eps=eps) * F.normalize(b, dim=-1, eps=eps)).sum(-1)


def same_convs(x: Tensor, convs: Sequence[nn.Conv1d]) -> list[Tensor]:
    """Apply zero-padded 'same' Conv1d layers that share their input, time-major, with ONE matrix product.

    Equivalent to ``conv(x.transpose(1, 2)).transpose(1, 2)`` for each conv (odd kernel, any dilation, padding
    ``dilation * (kernel - 1) // 2``, groups 1) but without layout copies: every tap of every conv becomes a
    column block of one (C, sum_k K_k O_k) weight, and each conv sums its taps' outputs shifted in time.
    On CPU this is faster than separate mkldnn convolutions on transposed inputs (benchmarks/train_throughput.py).

    Args:
        x: (B,T,C), zero wherever a tap must read padding.
        convs: Conv1d layers with in_channels C.

    Returns:
        One (B,T,O_k) tensor per conv.
    """
    weight = torch.cat([conv.weight.permute(1, 2, 0).flatten(1) for conv in convs], dim=1)  # (C, sum K*O)
    # split / unbind (not slicing) so that backward concatenates the gradients instead of zero-filling z per tap.
    chunks = (x @ weight).split([conv.weight.shape[0] * conv.weight.shape[2] for conv in convs], dim=-1)
    steps = x.shape[1]
    outs = []
    for conv, chunk in zip(convs, chunks, strict=True):
        out_ch, _, kernel = conv.weight.shape
        y = None
        for k, tap in enumerate(chunk.unflatten(-1, (kernel, out_ch)).unbind(2)):  # (B,T,O) each
            shift = min(max((k - (kernel - 1) // 2) * conv.dilation[0], -steps), steps)  # y[t] += tap[t + shift]
            if shift > 0:
                tap = F.pad(tap[:, shift:], (0, 0, 0, shift))
            elif shift < 0:
                tap = F.pad(tap[:, :shift], (0, 0, -shift, 0))
            y = tap if y is None else y + tap
        outs.append(y + conv.bias if conv.bias is not None else y)
    return outs
