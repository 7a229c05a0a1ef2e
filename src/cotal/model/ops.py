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


def _shift(conv: nn.Conv1d, k: int, steps: int) -> int:
    """Time shift of tap ``k`` of a 'same' conv: the output at t adds the tap's product at t + shift."""
    return min(max((k - (conv.weight.shape[2] - 1) // 2) * conv.dilation[0], -steps), steps)


class _ShiftSum(torch.autograd.Function):
    """Tap products z (B,T,N) -> each conv's output (+ bias, then ReLU and mask where asked), built in place.

    The plain version's autograd (split, unbind, F.pad per tap, adds, ReLU, mask multiply) allocates and fills a
    (B,T,O) tensor per tap and per op, forwards and backwards. Here each output is written once, and the backward
    writes every tap's gradient straight into the (B,T,N) buffer the matrix product's backward reads. The same
    additions run in the same order on the same values, so the results are bit-identical to the plain version.
    """

    @staticmethod
    def forward(ctx, z: Tensor, m: Tensor | None, convs: tuple, relu: tuple, *biases: Tensor | None) -> tuple:  # noqa: ANN001
        steps = z.shape[1]
        outs, col = [], 0
        for conv, act, bias in zip(convs, relu, biases, strict=True):
            out_ch, _, kernel = conv.weight.shape
            if kernel == 1 and bias is not None:  # one pass instead of copy + add
                y = torch.add(z[..., col : col + out_ch], bias)
            else:
                y = z.new_empty(z.shape[0], steps, out_ch)
                for k in range(kernel):
                    shift = _shift(conv, k, steps)
                    lo, hi = max(shift, 0), steps + min(shift, 0)  # y[t] += tap[t + shift] for t + shift in [lo, hi)
                    src = z[:, lo:hi, col + k * out_ch : col + (k + 1) * out_ch]
                    if k == 0:
                        y[:, lo - shift : hi - shift].copy_(src)
                        y[:, : lo - shift].zero_()
                        y[:, hi - shift :].zero_()
                    else:
                        y[:, lo - shift : hi - shift].add_(src)  # elsewhere this tap reads padding: y + 0 = y
                if bias is not None:  # out of place where the bias promotes the dtype (autocast), like the plain y + b
                    y = y.add_(bias) if bias.dtype == y.dtype else y + bias
            col += kernel * out_ch
            if act:
                y.relu_().mul_(m)
            outs.append(y)
        ctx.convs, ctx.relu, ctx.z_shape, ctx.z_dtype = convs, relu, z.shape, z.dtype
        ctx.has_bias = [b is not None for b in biases]
        ctx.save_for_backward(*[y if act else None for y, act in zip(outs, relu, strict=True)])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple:  # noqa: ANN001
        steps = ctx.z_shape[1]
        gz = grads[0].new_empty(ctx.z_shape, dtype=ctx.z_dtype)
        bias_grads, col = [], 0
        for conv, act, has_bias, g, y in zip(ctx.convs, ctx.relu, ctx.has_bias, grads, ctx.saved_tensors, strict=True):
            out_ch, _, kernel = conv.weight.shape
            center = gz[..., col + (kernel - 1) // 2 * out_ch : col + ((kernel - 1) // 2 + 1) * out_ch]  # shift 0
            if act and g.dtype == gz.dtype:  # y > 0 exactly where ReLU passed and the mask is 1; into its tap
                g = torch.ops.aten.threshold_backward.grad_input(g, y, 0, grad_input=center)
            elif act:
                g = torch.ops.aten.threshold_backward(g, y, 0)
            bias_grads.append(g.sum((0, 1)) if has_bias else None)
            if g is not center:
                center.copy_(g)
            for k in range(kernel):
                shift = _shift(conv, k, steps)
                if shift == 0:
                    continue
                lo, hi = max(shift, 0), steps + min(shift, 0)
                tap = gz[..., col + k * out_ch : col + (k + 1) * out_ch]
                tap[:, lo:hi].copy_(g[:, lo - shift : hi - shift])
                tap[:, :lo].zero_()
                tap[:, hi:].zero_()
            col += kernel * out_ch
        return (gz, None, None, None, *bias_grads)


def same_convs(
    x: Tensor, convs: Sequence[nn.Conv1d], m: Tensor | None = None, relu: Sequence[bool] | None = None
) -> list[Tensor]:
    """Apply zero-padded 'same' Conv1d layers that share their input, time-major, with ONE matrix product.

    Equivalent to ``conv(x.transpose(1, 2)).transpose(1, 2)`` for each conv (odd kernel, any dilation, padding
    ``dilation * (kernel - 1) // 2``, groups 1) but without layout copies: every tap of every conv becomes a
    column block of one (C, sum_k K_k O_k) weight, and each conv sums its taps' outputs shifted in time.
    On CPU this is faster than separate mkldnn convolutions on transposed inputs (benchmarks/train_throughput.py).

    Args:
        x: (B,T,C), zero wherever a tap must read padding.
        convs: Conv1d layers with in_channels C.
        m: (B,T,1) float 0/1 mask, needed where ``relu`` is set.
        relu: per conv, return ``relu(conv(x)) * m`` instead of ``conv(x)`` (fused; default: no conv).

    Returns:
        One (B,T,O_k) tensor per conv.
    """
    relu = tuple(bool(r) for r in relu) if relu is not None else (False,) * len(convs)
    if m is None and any(relu):
        raise ValueError("same_convs: relu needs the mask m")
    weight = torch.cat([conv.weight.permute(1, 2, 0).flatten(1) for conv in convs], dim=1)  # (C, sum K*O)
    z = x @ weight
    if not torch.jit.is_tracing():  # the tracer (ONNX export) would freeze the in-place slices' lengths
        return list(_ShiftSum.apply(z, m, tuple(convs), relu, *[conv.bias for conv in convs]))
    # split / unbind (not slicing) so that backward concatenates the gradients instead of zero-filling z per tap.
    chunks = z.split([conv.weight.shape[0] * conv.weight.shape[2] for conv in convs], dim=-1)
    steps = x.shape[1]
    outs = []
    for conv, act, chunk in zip(convs, relu, chunks, strict=True):
        out_ch, _, kernel = conv.weight.shape
        y = None
        for k, tap in enumerate(chunk.unflatten(-1, (kernel, out_ch)).unbind(2)):  # (B,T,O) each
            shift = _shift(conv, k, steps)
            if shift > 0:
                tap = F.pad(tap[:, shift:], (0, 0, 0, shift))
            elif shift < 0:
                tap = F.pad(tap[:, :shift], (0, 0, -shift, 0))
            y = tap if y is None else y + tap
        y = y + conv.bias if conv.bias is not None else y
        outs.append(F.relu(y) * m if act else y)
    return outs
