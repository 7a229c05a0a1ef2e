"""Settings of the model and its losses, free of PyTorch so that ``cotal.config`` and the CLI load fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cotal.errors import ConfigError
from cotal.utils.configs import build_config, check_choices, check_range


@dataclass
class ModelConfig:
    """Sizes of :class:`CoAttentionModel`; defaults follow the authors' code (docs/method.md §5).

    Attributes:
        in_dim: input feature dim D (1024 per I3D stream; 2048 for a joint RGB|flow input).
        num_classes: C, the number of (pseudo-)classes.
        base_dim: channels of the base Conv1d.
        base_kernel: kernel size of the base Conv1d.
        dropout: probability of dropping a whole input channel of a video (Dropout2d in the authors' code).
        temporal_dim: channels of the FAB's separate temporal-conv branch; 0 = no such branch (authors' code,
            where the base Conv1d k=3 is the only plain temporal conv). The paper draws one (e.g. 128).
        temporal_kernel: kernel size of that branch.
        pyramid_dilations: dilations of the k=``pyramid_kernel`` convs of the pyramid branch.
        pyramid_kernel: kernel size of the dilated convs.
        pyramid_pointwise: add the k=1 conv to the pyramid (authors' code: yes).
        branch_dim: channels of each pyramid conv (pyramid output = branch_dim * number of convs).
        global_dim: channels of the global branch (Conv1d k=1 then the non-local block).
        nonlocal_inner: inner channels of the embedded-Gaussian non-local block.
        fuse: "concat" (authors' code: branch outputs concatenated) or "conv" (paper: Conv1d + ReLU).
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
    fuse: Literal["concat", "conv"] = "concat"
    fuse_dim: int = 256
    fuse_kernel: int = 1
    attention_dim: int = 128
    attention_kernel: int = 1

    def __post_init__(self) -> None:
        self.pyramid_dilations = tuple(int(d) for d in self.pyramid_dilations)
        check_choices(self, "model")
        positive = ("in_dim", "num_classes", "base_dim", "branch_dim", "global_dim", "nonlocal_inner", "fuse_dim")
        positive += ("attention_dim", "base_kernel", "pyramid_kernel", "fuse_kernel", "attention_kernel")
        check_range(self, "model", positive, low=1, integer=True)
        check_range(self, "model", ("temporal_dim",), low=0, integer=True)
        for name in ("base_kernel", "temporal_kernel", "pyramid_kernel", "fuse_kernel", "attention_kernel"):
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f"model.{name} must be odd so that outputs stay aligned with snippets")
        if not self.pyramid_dilations and not self.pyramid_pointwise:
            raise ConfigError("model.pyramid_dilations is empty and pyramid_pointwise is off: the pyramid is empty")
        if any(d <= 0 for d in self.pyramid_dilations):
            raise ConfigError(f"model.pyramid_dilations must be positive, got {self.pyramid_dilations}")
        check_range(self, "model", ("dropout",), low=0, high=1, high_open=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ModelConfig:
        """Build from a mapping (e.g. a YAML section or a checkpoint); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "model")

    @classmethod
    def paper(cls, **overrides: object) -> ModelConfig:
        """The paper's variant (docs/method.md §5, departure D6): a separate 128-channel temporal-conv branch and a
        1D-conv fusion of the branches."""
        return cls(**{"temporal_dim": 128, "fuse": "conv", **overrides})  # type: ignore[arg-type]


@dataclass
class LossConfig:
    """Weights and constants of the losses (authors' code values, docs/method.md §6, eqs. 12-18).

    Attributes:
        alpha: weight of L_trip. Default 0.0 as in the authors' released code, the only public setting; the paper
            includes the term but its weight is unknown -- choose it on a validation split, never on test.
        beta: weight of L_abs (authors: 1).
        theta: weight of L_intra inside L_abs (authors: 1).
        tau1: margin of L_inter (authors: 0.001).
        tau2: margin of L_intra (authors: 0.5).
        margin: margin m of L_trip (authors: 0.5).
        reduction: "mean" (batch-size independent, default) or "sum" (the paper's sums, docs/method.md D5); see
            the module docstring of :mod:`cotal.model.losses`.
    """

    alpha: float = 0.0
    beta: float = 1.0
    theta: float = 1.0
    tau1: float = 0.001
    tau2: float = 0.5
    margin: float = 0.5
    reduction: Literal["mean", "sum"] = "mean"

    def __post_init__(self) -> None:
        check_choices(self, "loss")
        check_range(self, "loss", ("alpha", "beta", "theta", "tau1", "tau2", "margin"), low=0)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> LossConfig:
        """Build from a mapping (e.g. keyword arguments); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "loss")
