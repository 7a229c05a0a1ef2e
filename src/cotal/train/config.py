"""Training settings, free of PyTorch so that ``cotal.config`` and the CLI load fast."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from cotal.errors import ConfigError

CROP_MODES = ("crop", "sample")


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are the authors' (SPEC section 6, ActivityNet-1.2 config).

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
        device: "cpu", "cuda" or "auto" (CUDA when available).
        precision: "float32" (default) or "bf16": the forward pass under bfloat16 autocast (weights, gradients,
            the optimiser and the losses stay float32); see ``cotal.utils.precision``.
    """

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_decay_at: float = 0.5
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    max_len: int | None = 750
    crop: str = "crop"
    clusters_per_batch: int = 3
    videos_per_cluster: int = 2
    checkpoint_every: int = 500
    seed: int = 0
    log_every: int = 10
    num_threads: int | None = None
    device: str = "auto"
    precision: str = "float32"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every", "log_every", "videos_per_cluster"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("clusters_per_batch", self.clusters_per_batch, minimum=0)
        _check_int("videos_per_cluster", self.videos_per_cluster, minimum=2)
        _check_int("seed", self.seed, minimum=0)
        for name in ("max_len", "num_threads"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.clusters_per_batch * self.videos_per_cluster > self.batch_size:
            raise ConfigError(
                f"train.clusters_per_batch x videos_per_cluster = {self.clusters_per_batch * self.videos_per_cluster}"
                f" exceeds batch_size {self.batch_size}"
            )
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"train.lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"train.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.lr_decay_at <= 1.0:
            raise ConfigError(f"train.lr_decay_at must be a fraction in [0, 1], got {self.lr_decay_at!r}")
        if not 0.0 < self.lr_gamma <= 1.0:
            raise ConfigError(f"train.lr_gamma must be in (0, 1], got {self.lr_gamma!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"train.grad_clip must be positive or None, got {self.grad_clip!r}")
        if self.crop not in CROP_MODES:
            raise ConfigError(f"train.crop must be one of {', '.join(CROP_MODES)}, got {self.crop!r}")
        if self.precision not in ("float32", "bf16"):  # fp16 training would need a gradient scaler
            raise ConfigError(f"train.precision must be float32 or bf16, got {self.precision!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"train.device must be cpu, cuda or auto, got {self.device!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys raise ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"train: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        return cls(**values)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"train.{name} must be an integer >= {minimum}, got {value!r}")
