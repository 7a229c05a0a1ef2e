"""How features enter the method (the ``data`` section of a config); free of NumPy and PyTorch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import check_choices

NormalizeMethod = Literal["none", "zscore"]
STREAMS = ("rgb", "flow")  # the feature streams a dataset can hold, in their canonical order


@dataclass
class DataConfig:
    """How features enter the method.

    Attributes:
        normalize: "zscore" standardises every dimension of each stream with the mean and standard deviation of
            the training videos' snippets (stored in the run and inside every model); "none" feeds raw features
            (the paper). Default "zscore": chosen on the development suite (docs/benchmarks.md), where it helped
            on every dataset, I3D-like synthetic features included.
    """

    normalize: NormalizeMethod = "zscore"

    def __post_init__(self) -> None:
        check_choices(self, "data")
