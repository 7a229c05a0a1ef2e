"""The temporal co-attention localization model (Gong et al., CVPR 2020, docs/method.md §5), batched and masked.

Shapes: B videos, T snippets (padded to the longest), D input dim, C classes.

    x (B,T,D) -> (x - shift) * scale                                         input standardisation, eq. (2)
      -> channel dropout -> base Conv1d(D->256,k=3)+ReLU                      (B,256,T), eq. (7)
      -> FAB: [global: Conv1d k=1 ->128 + ReLU, non-local | pyramid 4x32 | temporal conv (optional)]
         concatenated (code) or fused by a Conv1d (paper)                   X_cs (B,T,E), E = 256, eq. (8)
      -> A = Linear(X_cs)                                                  cas  (B,T,C), eq. (9)
    base -> Conv1d(256->128, k=1)+ReLU                                     X_ca (B,T,E'), E' = 128
      -> S = masked softmax over time of Linear(X_ca)                      attention (B,T), eq. (10)
    p = sum_t A[:,t,:] * S[:,t]                                            logits (B,C), eq. (11)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.errors import ConfigError
from cotal.model.config import ModelConfig
from cotal.model.fab import FeatureAggregationBlock
from cotal.model.ops import check_mask, masked_softmax, same_convs


@dataclass
class CoAttentionOutput:
    """Outputs of :class:`CoAttentionModel` for a padded batch.

    Attributes:
        cas: A (B,T,C) class-specific attention logits (0 on padding).
        attention: S (B,T) class-agnostic attention, softmax over the valid snippets, exactly 0 on padding.
        x_cs: (B,T,E) features feeding A (0 on padding).
        x_ca: (B,T,E') features feeding S (0 on padding).
        logits: p (B,C) video logits, p = sum_t A[b,t,:] * S[b,t].
    """

    cas: Tensor
    attention: Tensor
    x_cs: Tensor
    x_ca: Tensor
    logits: Tensor


class CoAttentionModel(nn.Module):
    """Temporal co-attention model for one input stream (or a joint RGB|flow input with in_dim = D_rgb + D_flow).

    Padding never leaks: the input and every intermediate activation are zeroed beyond each video's length
    before the next convolution, the non-local block ignores padded keys and S is a masked softmax, so a
    video's outputs are the same alone or padded in a batch (up to float rounding).
    """

    def __init__(self, config: ModelConfig | None = None, **kwargs: object) -> None:
        """Build from ``config`` or from ModelConfig keyword arguments (not both)."""
        super().__init__()
        if config is None:
            config = ModelConfig.from_dict(kwargs)
        elif kwargs:
            raise ConfigError(f"CoAttentionModel: pass a ModelConfig or keyword arguments, not both ({sorted(kwargs)})")
        self.config = config
        c = config
        self.base = nn.Conv1d(c.in_dim, c.base_dim, c.base_kernel, padding=c.base_kernel // 2)
        self.fab = FeatureAggregationBlock(
            in_dim=c.base_dim,
            temporal_dim=c.temporal_dim,
            temporal_kernel=c.temporal_kernel,
            branch_dim=c.branch_dim,
            pyramid_dilations=c.pyramid_dilations,
            pyramid_kernel=c.pyramid_kernel,
            pyramid_pointwise=c.pyramid_pointwise,
            global_dim=c.global_dim,
            nonlocal_inner=c.nonlocal_inner,
            fuse=c.fuse,
            fuse_dim=c.fuse_dim,
            fuse_kernel=c.fuse_kernel,
        )
        self.cls_head = nn.Linear(self.fab.out_dim, c.num_classes)
        self.att_branch = nn.Conv1d(c.base_dim, c.attention_dim, c.attention_kernel, padding=c.attention_kernel // 2)
        self.att_head = nn.Linear(c.attention_dim, 1)
        # Input standardisation is part of the model (saved with its weights), so every consumer of a model
        # file (detect, export) feeds it raw features; identity until set_input_normalization.
        self.register_buffer("input_shift", torch.zeros(c.in_dim))
        self.register_buffer("input_scale", torch.ones(c.in_dim))

    def set_input_normalization(self, shift: Tensor, scale: Tensor) -> None:
        """Set the (D,) affine input map ``x' = (x - shift) * scale`` (training-set statistics)."""
        shift, scale = torch.as_tensor(shift).reshape(-1), torch.as_tensor(scale).reshape(-1)
        if shift.shape != self.input_shift.shape or scale.shape != self.input_scale.shape:
            raise ConfigError(f"input normalization must have {self.config.in_dim} entries, got {tuple(shift.shape)}")
        self.input_shift.copy_(shift)
        self.input_scale.copy_(scale)

    @property
    def cs_dim(self) -> int:
        """E, the channels of X_cs."""
        return self.fab.out_dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> CoAttentionOutput:
        """x (B,T,D) float features, mask (B,T) bool (True = valid; None = all valid) -> CoAttentionOutput."""
        if x.dim() != 3 or x.shape[-1] != self.config.in_dim:
            raise ConfigError(f"model input has shape {tuple(x.shape)}, expected (B, T, {self.config.in_dim})")
        mask = check_mask(mask, x)
        m = mask.unsqueeze(-1).to(x.dtype)  # (B,T,1)
        # In place: each pass over the (B,T,D) input would otherwise allocate a fresh tensor as large as it.
        h = (x - self.input_shift).mul_(self.input_scale).mul_(m)
        if self.training and self.config.dropout > 0:
            # Drop whole input channels per video (Dropout2d on (B,D,T,1) in the authors' code). Applied last, not
            # folded into the scale: the product's rounding then does not depend on p.
            h.mul_(F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), p=self.config.dropout, training=True))
        (base,) = same_convs(h, [self.base], m, relu=[True])
        x_cs, (x_ca,) = self.fab(base, m, extra=[self.att_branch])
        cas = self.cls_head(x_cs) * m
        attention = masked_softmax(self.att_head(x_ca).squeeze(-1), mask, dim=1)
        logits = torch.einsum("btc,bt->bc", cas, attention)
        return CoAttentionOutput(cas=cas, attention=attention, x_cs=x_cs, x_ca=x_ca, logits=logits)


class StreamModels(nn.ModuleDict):
    """One independent :class:`CoAttentionModel` per stream (authors' default: RGB and flow trained apart).

    The models share nothing, so training them in one optimiser with the summed loss is the same as training
    them separately; late fusion of their outputs (weights 2:1 for RGB:flow in the authors' code) happens at
    detection time. For a joint input, use a single model with in_dim = D_rgb + D_flow instead.
    """

    def __init__(self, configs: Mapping[str, ModelConfig]) -> None:
        super().__init__({stream: CoAttentionModel(cfg) for stream, cfg in configs.items()})

    def forward(self, inputs: Mapping[str, Tensor], mask: Tensor | None = None) -> dict[str, CoAttentionOutput]:
        """inputs {stream: (B,T,D_stream)} with a shared mask (B,T) -> {stream: CoAttentionOutput}."""
        missing = sorted(set(self.keys()) - set(inputs))
        if missing:
            raise ConfigError(f"StreamModels: no input for stream(s) {', '.join(missing)}")
        return {stream: model(inputs[stream], mask) for stream, model in self.items()}
