"""The temporal co-attention localization model (Gong et al., CVPR 2020, docs/method.md §5), batched and masked.

Shapes: B videos, T snippets (padded to the longest), D input dim, C classes.

    x (B,T,D) -> (x - shift) * scale                                         input standardisation, eq. (2)
      -> channel dropout -> base Conv1d(D->256,k=3)+ReLU                      (B,256,T), eq. (7)
      -> FAB: [global: Conv1d k=1 ->128 + ReLU, non-local | pyramid 4x32 | temporal conv (paper)]
         concatenated (code) or fused by a Conv1d (paper)                   X_cs (B,T,E), E = 256, eq. (8)
      -> A = Linear(X_cs)                                                  cas  (B,T,C), eq. (9)
    base -> Conv1d(256->128, k=1)+ReLU                                     X_ca (B,T,E'), E' = 128
      -> S = masked softmax over time of Linear(X_ca)                      attention (B,T), eq. (10)
    p = sum_t A[:,t,:] * S[:,t]                                            logits (B,C), eq. (11)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.errors import ConfigError
from cotal.model.config import ModelConfig
from cotal.model.fab import FeatureAggregationBlock
from cotal.model.ops import check_mask, masked_softmax, same_convs

BASE_KERNEL = 3  # the base Conv1d (authors' code)
ATTENTION_DIM = 128  # channels E' of the class-agnostic branch X_ca (authors' code: a 1x1 conv)


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
    """Temporal co-attention model for one input stream (docs/method.md §5; one model per stream, fused at detection).

    Padding never leaks: the input and every intermediate activation are zeroed beyond each video's length
    before the next convolution, the non-local block ignores padded keys and S is a masked softmax, so a
    video's outputs are the same alone or padded in a batch (up to float rounding).
    """

    def __init__(self, in_dim: int, num_classes: int, config: ModelConfig | None = None) -> None:
        """A model for (B, T, ``in_dim``) features and ``num_classes`` classes with the settings ``config``."""
        super().__init__()
        config = config or ModelConfig()
        for name, value in (("in_dim", in_dim), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"CoAttentionModel: {name} must be a positive integer, got {value!r}")
        self.in_dim, self.num_classes, self.config = in_dim, num_classes, config
        self.base = nn.Conv1d(in_dim, config.base_dim, BASE_KERNEL, padding=BASE_KERNEL // 2)
        self.fab = FeatureAggregationBlock(config.base_dim, fab=config.fab)
        self.cls_head = nn.Linear(self.fab.out_dim, num_classes)
        self.att_branch = nn.Conv1d(config.base_dim, ATTENTION_DIM, 1)
        self.att_head = nn.Linear(ATTENTION_DIM, 1)
        # Input standardisation is part of the model (saved with its weights), so every consumer of a model
        # file (detect, export) feeds it raw features; identity until set_input_normalization.
        self.register_buffer("input_shift", torch.zeros(in_dim))
        self.register_buffer("input_scale", torch.ones(in_dim))

    def set_input_normalization(self, shift: Tensor, scale: Tensor) -> None:
        """Set the (D,) affine input map ``x' = (x - shift) * scale`` (training-set statistics)."""
        shift, scale = torch.as_tensor(shift).reshape(-1), torch.as_tensor(scale).reshape(-1)
        if shift.shape != self.input_shift.shape or scale.shape != self.input_scale.shape:
            raise ConfigError(f"input normalization must have {self.in_dim} entries, got {tuple(shift.shape)}")
        self.input_shift.copy_(shift)
        self.input_scale.copy_(scale)

    @property
    def cs_dim(self) -> int:
        """E, the channels of X_cs."""
        return self.fab.out_dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> CoAttentionOutput:
        """x (B,T,D) float features, mask (B,T) bool (True = valid; None = all valid) -> CoAttentionOutput."""
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ConfigError(f"model input has shape {tuple(x.shape)}, expected (B, T, {self.in_dim})")
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
