"""Settings of the model and its losses, free of PyTorch so that ``cotal.config`` and the CLI load fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import build_config, check_choices, check_range

FabVariant = Literal["code", "paper"]


@dataclass
class ModelConfig:
    """Settings of :class:`CoAttentionModel` (docs/method.md §5); the layer sizes inside the FAB are the authors'.

    The input dim D and the number of classes C are not settings: a run takes them from its features and its
    clusters (or classes), and the model's constructor takes them as arguments.

    Attributes:
        base_dim: channels of the base Conv1d (authors: 256); the width to shrink for small datasets.
        dropout: probability of dropping a whole input channel of a video (Dropout2d in the authors' code).
        fab: the Feature Aggregation Block. "code" (authors' code): the global and pyramid branches
            concatenated. "paper": also a 128-channel temporal-conv branch, and the branches fused by a
            Conv1d + ReLU to ``base_dim`` channels (docs/method.md D6).
    """

    base_dim: int = 256
    dropout: float = 0.5
    fab: FabVariant = "code"

    def __post_init__(self) -> None:
        check_choices(self, "model")
        check_range(self, "model", ("base_dim",), low=1, integer=True)
        check_range(self, "model", ("dropout",), low=0, high=1, high_open=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ModelConfig:
        """Build from a mapping (e.g. a YAML section or a model file); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "model")


@dataclass
class LossConfig:
    """Weights of the losses (docs/method.md §6, eq. 12); the margins inside them are the authors'.

    Attributes:
        alpha: weight of L_trip. Default 0.0 as in the authors' released code, the only public setting; the paper
            includes the term but its weight is unknown -- choose it on a validation split, never on test.
        beta: weight of L_abs (authors: 1).
        reduction: "mean" (batch-size independent, default) or "sum" (the paper's sums, docs/method.md D5); see
            the module docstring of :mod:`cotal.model.losses`.
    """

    alpha: float = 0.0
    beta: float = 1.0
    reduction: Literal["mean", "sum"] = "mean"

    def __post_init__(self) -> None:
        check_choices(self, "loss")
        check_range(self, "loss", ("alpha", "beta"), low=0)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> LossConfig:
        """Build from a mapping (e.g. keyword arguments); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "loss")
