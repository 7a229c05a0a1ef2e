"""Training settings, free of PyTorch so that ``cotal.config`` and the CLI load fast."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from cotal.errors import ConfigError
from cotal.utils.configs import build_config, check_choices, check_range
from cotal.utils.device import parse_device

CropMode = Literal["crop", "sample"]


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are the authors' (docs/method.md §7, ActivityNet-1.2 config).

    Attributes:
        epochs: passes over the training videos; one epoch = ceil(N / batch_size) steps. 200 epochs of the
            4,819 ActivityNet-1.2 training videos at batch 32 is the authors' 30k updates.
        batch_size: videos per step (the global batch, whatever the number of processes).
        lr: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
        lr_decay_at: fraction of the total steps after which the learning rate is multiplied by ``lr_gamma``.
        lr_gamma: learning-rate factor applied once at ``lr_decay_at``.
        grad_clip: clip the global gradient norm to this value; None = no clipping (authors' code).
        max_len: longest training crop in snippets; None = full length (authors' code). 750 is W-TALC's value
            and keeps batch memory bounded.
        crop: how a longer video is cut to ``max_len``: "crop" (a random contiguous window, W-TALC) or
            "sample" (one random snippet per equal bin, UM/CoLA); see ``cotal.train.batching.crop_indices``.
        clusters_per_batch: Z, clusters drawn per batch whose K videos feed the pair/triplet losses.
        videos_per_cluster: K videos drawn from each of those clusters.
        checkpoint_every: steps between checkpoints (a checkpoint is also written at the end).
        seed: seeds the sampler, the crops, the initial weights and dropout.
        log_every: steps between rows of the CSV log (values averaged over those steps).
        num_threads: torch intra-op CPU threads; None keeps torch's default.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:K"; under torchrun "auto" and "cuda" mean
            cuda:LOCAL_RANK (:func:`cotal.utils.device.select_device`).
        precision: "float32" (default) or "bf16": the forward pass under bfloat16 autocast (weights, gradients,
            the optimiser and the losses stay float32); see ``cotal.utils.precision``.
        chunk_cost: one process on a CPU runs each batch in length buckets
            (:func:`cotal.train.batching.plan_buckets`); this is the cost of one more bucket in padded
            snippets. Larger values make fewer, larger buckets: 64 trains ~1.3x faster on an idle 2-core CPU,
            16 (the default) is best under contention; any change alters trained weights in the last bits
            (docs/benchmarks.md). Not used on a GPU or with several processes (one padded batch).
    """

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_decay_at: float = 0.5
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    max_len: int | None = 750
    crop: CropMode = "crop"
    clusters_per_batch: int = 3
    videos_per_cluster: int = 2
    checkpoint_every: int = 500
    seed: int = 0
    log_every: int = 10
    num_threads: int | None = None
    device: str = "auto"
    precision: Literal["float32", "bf16"] = "float32"  # fp16 would need a gradient scaler
    chunk_cost: float = 16.0

    def __post_init__(self) -> None:
        check_choices(self, "train")
        parse_device(self.device, "train.device")
        check_range(self, "train", ("epochs", "batch_size", "checkpoint_every", "log_every"), low=1, integer=True)
        check_range(self, "train", ("max_len", "num_threads"), low=1, integer=True, optional=True)
        check_range(self, "train", ("clusters_per_batch", "seed"), low=0, integer=True)
        check_range(self, "train", ("videos_per_cluster",), low=2, integer=True)
        if self.clusters_per_batch * self.videos_per_cluster > self.batch_size:
            raise ConfigError(
                f"train.clusters_per_batch x videos_per_cluster = {self.clusters_per_batch * self.videos_per_cluster}"
                f" exceeds batch_size {self.batch_size}"
            )
        check_range(self, "train", ("lr",), low=0, low_open=True)
        check_range(self, "train", ("grad_clip",), low=0, low_open=True, optional=True)
        check_range(self, "train", ("weight_decay", "chunk_cost"), low=0)
        check_range(self, "train", ("lr_decay_at",), low=0, high=1)
        check_range(self, "train", ("lr_gamma",), low=0, high=1, low_open=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> TrainConfig:
        """Build from a mapping (e.g. a YAML section); see :func:`cotal.utils.configs.build_config`."""
        return build_config(cls, dict(values), "train")
