"""The fused time-major convolutions (cotal.model.ops.same_convs) equal torch's Conv1d, forwards and backwards."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cotal.model.ops import same_convs


def _convs(channels: int) -> list[nn.Conv1d]:
    torch.manual_seed(0)
    return [
        nn.Conv1d(channels, 5, 3, dilation=1, padding=1),
        nn.Conv1d(channels, 4, 3, dilation=3, padding=3),
        nn.Conv1d(channels, 3, 1),
        nn.Conv1d(channels, 2, 1, bias=False),
        nn.Conv1d(channels, 3, 3, dilation=2, padding=2, bias=False),
    ]


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_same_convs_match_conv1d_with_gradients(steps: int) -> None:
    convs = [c.double() for c in _convs(6)]
    lengths = torch.tensor([steps, max(1, steps - 2)])
    m = (torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1).double()
    x = (torch.randn(2, steps, 6, dtype=torch.float64) * m).requires_grad_()
    relu = [True, False, True, False, True]
    outs = same_convs(x, convs, m, relu=relu)
    refs = []
    for conv, act in zip(convs, relu, strict=True):
        y = conv(x.transpose(1, 2)).transpose(1, 2)
        refs.append(F.relu(y) * m if act else y)
    for out, ref in zip(outs, refs, strict=True):
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    params = [x, *(p for c in convs for p in c.parameters())]
    weights = [torch.randn_like(r) for r in refs]
    got = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights, strict=True)), params)
    want = torch.autograd.grad(sum((r * w).sum() for r, w in zip(refs, weights, strict=True)), params)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


# The tracer's notes about shapes turned into constants: expected, as in cotal.train.onnx_export.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_same_convs_traced_path_is_bit_identical() -> None:
    """The plain path (used while tracing for ONNX) and the fused path give the very same bits."""
    convs = _convs(8)
    for conv in convs:
        conv.requires_grad_(False)  # the tracer refuses parameters that need gradients as constants
    m = torch.ones(3, 11, 1)
    m[1, 6:] = 0
    x = torch.randn(3, 11, 8) * m
    relu = [True, True, False, False, True]
    fused = same_convs(x, convs, m, relu=relu)
    traced = torch.jit.trace(lambda t: tuple(same_convs(t, convs, m, relu=relu)), (x,), check_trace=False)(x)
    for a, b in zip(fused, traced, strict=True):
        assert torch.equal(a, b)
