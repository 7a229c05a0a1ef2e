"""Training settings, free of PyTorch so that ``cotal.config`` and the CLI load fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cotal.utils.configs import build_config, check_choices, check_range
from cotal.utils.device import parse_device

# The authors' optimisation constants (docs/method.md §7): Adam's weight decay, and the learning rate multiplied by
# LR_GAMMA after LR_DECAY_AT of the updates.
WEIGHT_DECAY = 1e-4
LR_DECAY_AT = 0.5
LR_GAMMA = 0.1
# Z clusters x K videos of each batch feed the pair and triplet losses (W-TALC's Z = 3; K = 2 as the authors).
CLUSTERS_PER_BATCH = 3
VIDEOS_PER_CLUSTER = 2


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are the authors' (docs/method.md §7, ActivityNet-1.2 config).

    Attributes:
        epochs: passes over the training videos; one epoch = ceil(N / batch_size) steps. 200 epochs of the
            4,819 ActivityNet-1.2 training videos at batch 32 is the authors' 30k updates.
        batch_size: videos per step (the global batch, whatever the number of processes); at least
            ``CLUSTERS_PER_BATCH x VIDEOS_PER_CLUSTER`` = 6.
        lr: Adam learning rate.
        max_len: longest training crop in snippets (a random contiguous window, W-TALC); None = full length
            (the authors' ActivityNet code). 750 is W-TALC's value and keeps batch memory bounded.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:K"; under torchrun "auto" and "cuda" mean
            cuda:LOCAL_RANK (:func:`cotal.utils.device.select_device`).
        precision: "float32" (default) or "bf16": the forward pass under bfloat16 autocast (weights, gradients,
            the optimiser and the losses stay float32); see ``cotal.utils.precision``. For GPUs.
    """

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    max_len: int | None = 750
    device: str = "auto"
    precision: Literal["float32", "bf16"] = "float32"  # fp16 would need a gradient scaler

    def __post_init__(self) -> None:
        check_choices(self, "train")
        parse_device(self.device, "train.device")
        check_range(self, "train", ("epochs",), low=1, integer=True)
        check_range(self, "train", ("batch_size",), low=CLUSTERS_PER_BATCH * VIDEOS_PER_CLUSTER, integer=True)
        check_range(self, "train", ("max_len",), low=1, integer=True, optional=True)
        check_range(self, "train", ("lr",), low=0, low_open=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> TrainConfig:
        """Build from a mapping (e.g. a YAML section); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "train")
