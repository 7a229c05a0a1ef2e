"""Local-global Feature Aggregation Block (FAB) and its non-local global-context block.

All modules work time-major on (B, T, C) tensors with a float mask ``m`` (B, T, 1) (1 = valid snippet,
0 = padding). Every block returns activations that are exactly 0 on padding, so a zero-padded convolution
sees the same zeros beyond a video's end whether the video is alone or padded inside a batch. Parameters are
ordinary Conv1d layers (channel-first weights, as in the authors' code); the forward passes compute them as
matrix products in time-major layout (:func:`cotal.model.ops.same_convs`), which avoids layout copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.model.config import FabVariant
from cotal.model.ops import same_convs

# The authors' layer sizes (docs/method.md §5).
PYRAMID_DILATIONS = (1, 2, 3)
BRANCH_DIM = 32
GLOBAL_DIM = 128
NONLOCAL_INNER = 64
TEMPORAL_DIM = 128  # the paper's temporal-conv branch (fab="paper")


class NonLocalBlock1d(nn.Module):
    """Embedded-Gaussian non-local block over time, masked: padded snippets are never attended to.

    ``z = x + W(softmax_keys(theta(x) phi(x)^T) g(x))`` with 1x1 convs theta, phi, g (C -> inner) and W
    (inner -> C). W is zero-initialised so the block starts as the identity (Wang et al. 2018; the authors'
    code uses no scaling of the dot products and no batch norm).
    """

    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)
        self.g = nn.Conv1d(channels, inner, 1)
        self.out = nn.Conv1d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, m: Tensor) -> Tensor:
        """x (B,T,C), m (B,T,1) float mask -> (B,T,C), 0 on padding."""
        q, k, v = (t.unsqueeze(1) for t in same_convs(x, [self.theta, self.phi, self.g]))  # (B,1,T,I)
        # Additive key mask (B,1,1,T); 4-D inputs let CPU and CUDA use their fused (flash) attention kernels.
        key_bias = torch.zeros_like(m).masked_fill(m == 0, float("-inf")).transpose(1, 2).unsqueeze(1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias, scale=1.0).squeeze(1)  # (B,T,I)
        (out,) = same_convs(y, [self.out])
        return out.add_(x).mul_(m)  # (x + out) * m without two more (B,T,C) tensors


class FeatureAggregationBlock(nn.Module):
    """FAB: dilated pyramid branch, global (non-local) branch and, in the paper's variant, a temporal-conv branch.

    The pyramid is parallel k=3 convs with dilations 1, 2, 3 plus a 1x1 conv, 32 channels each, ReLU,
    concatenated (128 channels); the global branch is a 1x1 conv to 128 channels and a non-local block with 64
    inner channels (the authors' sizes). Branch outputs are concatenated [global, pyramid] (``fab="code"``, the
    authors' code: 256 channels) or, with the paper's 128-channel k=3 temporal branch, fused by a 1x1 Conv1d +
    ReLU to ``in_dim`` channels (``fab="paper"``). The class-agnostic branch ``extra`` (Conv1d from the same
    base features, e.g. the model's X_ca branch) is computed in the same matrix product and returned separately.
    """

    def __init__(self, in_dim: int, *, fab: FabVariant = "code") -> None:
        super().__init__()
        paper = fab == "paper"
        self.temporal = nn.Conv1d(in_dim, TEMPORAL_DIM, 3, padding=1) if paper else None
        self.pyramid = nn.ModuleList(
            [nn.Conv1d(in_dim, BRANCH_DIM, 3, dilation=d, padding=d) for d in PYRAMID_DILATIONS]
            + [nn.Conv1d(in_dim, BRANCH_DIM, 1)]
        )
        self.global_in = nn.Conv1d(in_dim, GLOBAL_DIM, 1)
        self.nonlocal_block = NonLocalBlock1d(GLOBAL_DIM, NONLOCAL_INNER)
        cat_dim = (TEMPORAL_DIM if paper else 0) + BRANCH_DIM * len(self.pyramid) + GLOBAL_DIM
        self.fuse = nn.Conv1d(cat_dim, in_dim, 1) if paper else None
        self.out_dim = in_dim if paper else cat_dim

    def forward(self, x: Tensor, m: Tensor, extra: Sequence[nn.Conv1d] = ()) -> tuple[Tensor, list[Tensor]]:
        """x (B,T,C_in) base features (0 on padding), m (B,T,1) -> X_cs (B,T,out_dim) and the ``extra`` outputs.

        Outputs are 0 on padding; ``extra`` outputs are ``relu(conv(x)) * m`` like the branches (ReLU, bias and
        mask fused into the convolution, see :func:`cotal.model.ops.same_convs`).
        """
        convs = [self.global_in, *self.pyramid, *([self.temporal] if self.temporal is not None else []), *extra]
        outs = same_convs(x, convs, m, relu=[True] * len(convs))
        glob = self.nonlocal_block(outs[0], m)
        local = torch.cat(outs[1 : len(convs) - len(extra)], dim=-1)
        feats = torch.cat([glob, local], dim=-1)
        if self.fuse is not None:
            (feats,) = same_convs(feats, [self.fuse], m, relu=[True])
        return feats, outs[len(convs) - len(extra) :]
