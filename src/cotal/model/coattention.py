"""The temporal co-attention localization model (Gong et al., CVPR 2020, SPEC section 4), batched and masked.

Shapes: B videos, T snippets (padded to the longest), D input dim, C classes.

    x (B,T,D) -> (x - shift) * scale                                         input standardisation
      -> channel dropout -> base Conv1d(D->256,k=3)+ReLU                      (B,256,T)
      -> FAB: [global: Conv1d k=1 ->128 + ReLU, non-local | pyramid 4x32 | temporal conv (optional)]
         concatenated (code) or fused by a Conv1d (deck)                   X_cs (B,T,E), E = 256 by default
      -> A = Linear(X_cs)                                                  cas  (B,T,C)
    base -> Conv1d(256->128, k=1)+ReLU                                     X_ca (B,T,E'), E' = 128
      -> S = masked softmax over time of Linear(X_ca)                      attention (B,T)
    p = sum_t A[:,t,:] * S[:,t]                                            logits (B,C)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.errors import ConfigError
from cotal.model.fab import FeatureAggregationBlock
from cotal.model.ops import check_mask, masked_softmax, same_convs

FUSE_MODES = ("concat", "conv")


@dataclass
class ModelConfig:
    """Sizes of :class:`CoAttentionModel`; defaults follow the authors' code (SPEC section 4).

    Attributes:
        in_dim: input feature dim D (1024 per I3D stream; 2048 for a joint RGB|flow input).
        num_classes: C, the number of (pseudo-)classes.
        base_dim: channels of the base Conv1d.
        base_kernel: kernel size of the base Conv1d.
        dropout: probability of dropping a whole input channel of a video (Dropout2d in the authors' code).
        temporal_dim: channels of the FAB's separate temporal-conv branch; 0 = no such branch (authors' code,
            where the base Conv1d k=3 is the only plain temporal conv). The deck draws one (e.g. 128).
        temporal_kernel: kernel size of that branch.
        pyramid_dilations: dilations of the k=``pyramid_kernel`` convs of the pyramid branch.
        pyramid_kernel: kernel size of the dilated convs.
        pyramid_pointwise: add the k=1 conv to the pyramid (authors' code: yes).
        branch_dim: channels of each pyramid conv (pyramid output = branch_dim * number of convs).
        global_dim: channels of the global branch (Conv1d k=1 then the non-local block).
        nonlocal_inner: inner channels of the embedded-Gaussian non-local block.
        fuse: "concat" (authors' code: branch outputs concatenated) or "conv" (deck: Conv1d + ReLU).
        fuse_dim: output channels of the fusing conv (fuse="conv" only).
        fuse_kernel: kernel size of the fusing conv.
        attention_dim: channels E' of the class-agnostic branch producing X_ca.
        attention_kernel: kernel size of that branch (authors' config: 1).
    """

    in_dim: int = 1024
    num_classes: int = 20
    base_dim: int = 256
    base_kernel: int = 3
    dropout: float = 0.5
    temporal_dim: int = 0
    temporal_kernel: int = 3
    pyramid_dilations: tuple[int, ...] = (1, 2, 3)
    pyramid_kernel: int = 3
    pyramid_pointwise: bool = True
    branch_dim: int = 32
    global_dim: int = 128
    nonlocal_inner: int = 64
    fuse: str = "concat"
    fuse_dim: int = 256
    fuse_kernel: int = 1
    attention_dim: int = 128
    attention_kernel: int = 1

    def __post_init__(self) -> None:
        self.pyramid_dilations = tuple(int(d) for d in self.pyramid_dilations)
        positive = ("in_dim", "num_classes", "base_dim", "branch_dim", "global_dim", "nonlocal_inner", "fuse_dim")
        positive += ("attention_dim", "base_kernel", "pyramid_kernel", "fuse_kernel", "attention_kernel")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
        if isinstance(self.temporal_dim, bool) or not isinstance(self.temporal_dim, int) or self.temporal_dim < 0:
            raise ConfigError(f"model.temporal_dim must be an integer >= 0, got {self.temporal_dim!r}")
        for name in ("base_kernel", "temporal_kernel", "pyramid_kernel", "fuse_kernel", "attention_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f"model.{name} must be odd so that outputs stay aligned with snippets")
        if not self.pyramid_dilations and not self.pyramid_pointwise:
            raise ConfigError("model.pyramid_dilations is empty and pyramid_pointwise is off: the pyramid is empty")
        if any(d <= 0 for d in self.pyramid_dilations):
            raise ConfigError(f"model.pyramid_dilations must be positive, got {self.pyramid_dilations}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        if self.fuse not in FUSE_MODES:
            raise ConfigError(f"model.fuse must be one of {', '.join(FUSE_MODES)}, got {self.fuse!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ModelConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys raise ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"model: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def deck(cls, **overrides: object) -> ModelConfig:
        """The deck's variant: a separate 128-channel temporal-conv branch and a 1D-conv fusion of the branches."""
        return cls(**{"temporal_dim": 128, "fuse": "conv", **overrides})  # type: ignore[arg-type]


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
        h = (x - self.input_shift) * self.input_scale * m
        if self.training and self.config.dropout > 0:
            # Drop whole input channels per video (Dropout2d on (B,D,T,1) in the authors' code).
            h = h * F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), p=self.config.dropout, training=True)
        (base,) = same_convs(h, [self.base])
        base = F.relu(base) * m
        x_cs, (att,) = self.fab(base, m, extra=[self.att_branch])
        x_ca = F.relu(att) * m
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
