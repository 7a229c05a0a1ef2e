"""Checkpoint and resume state of a training run: what makes a resumed run equal an uninterrupted one.

``run_dir/checkpoint.pt`` holds the step, the model and optimiser states, every rank's torch random state (dropout)
and the log's running sums. The sampler's numpy stream is not stored: :func:`replay_sampler` redraws it. The
crops need nothing, being a function of (seed, step, batch position). A checkpoint resumes only the run whose
:func:`run_fingerprint` (settings, seed, data, world size, input normalisation) it carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cotal.errors import ConfigError, DataError
from cotal.model import LossConfig, ModelConfig
from cotal.model.io import check_finite_state
from cotal.train.config import TrainConfig
from cotal.train.sampler import ClusterBatchSampler
from cotal.utils.io import torch_load_safe, torch_save_atomic

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "cotal-train-checkpoint-v2"

# Settings that do not change the trajectory: a run may resume with different values.
_NON_TRAJECTORY = ("device",)


def run_fingerprint(
    *,
    video_ids: Sequence[str],
    groups_of_video: Sequence[Sequence[int]],
    stream: str,
    targets: np.ndarray,
    seed: int,
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    world_size: int,
    input_normalization: tuple[Tensor, Tensor] | None,
) -> dict[str, Any]:
    """Everything that determines the trajectory, as JSON-like data; a checkpoint resumes only an equal one.

    ``targets`` is (N, C) float32; ``input_normalization`` the (D,) float32 (shift, scale) tensors.
    """
    data = hashlib.sha256()
    data.update(json.dumps([list(video_ids), groups_of_video, stream]).encode())
    data.update(np.ascontiguousarray(targets).tobytes())
    train = {k: v for k, v in asdict(train_config).items() if k not in _NON_TRAJECTORY}
    norm = None
    if input_normalization is not None:
        shift, scale = input_normalization
        norm = hashlib.sha256(shift.numpy().tobytes() + scale.numpy().tobytes()).hexdigest()
    raw = {
        "model": asdict(model_config),
        "loss": asdict(loss_config),
        "train": train,
        "seed": seed,
        "data": data.hexdigest(),
        "world_size": world_size,
        "input_normalization": norm,
    }
    return json.loads(json.dumps(raw))


def write_checkpoint(
    path: Path,
    *,
    step: int,
    fingerprint: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    torch_rng: list[dict[str, Tensor]],
    log_state: dict[str, Any],
) -> None:
    """Write the checkpoint atomically; ``torch_rng`` lists every rank's :func:`torch_rng_state`."""
    torch_save_atomic(
        path,
        {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "fingerprint": json.dumps(fingerprint, sort_keys=True),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch_rng,
            **log_state,
        },
    )


def read_checkpoint(path: Path, fingerprint: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The checkpoint at ``path`` after checking it is one, of this run (``fingerprint``), with finite weights."""
    state = torch_load_safe(path, map_location=str(device))
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path}: not a cotal training checkpoint")
    saved = json.loads(state["fingerprint"])
    if saved != fingerprint:
        diff = _first_difference(saved, fingerprint)
        raise ConfigError(f"{path}: written by a different run ({diff}); use another run directory or resume=False")
    check_finite_state(state["model"], path, "resume")
    return state


def replay_sampler(sampler: ClusterBatchSampler, steps: int) -> None:
    """Advance a fresh sampler by ``steps`` batches: cheap numpy draws restore its stream without private state."""
    for _ in range(steps):
        sampler.sample()


def torch_rng_state(device: torch.device) -> dict[str, Tensor]:
    """This process's torch random state (CPU, and CUDA when training there)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device).cpu()
    return state


def set_torch_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    """Restore a state of :func:`torch_rng_state`."""
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """'key: old != new' for the first differing leaf of two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return f"{prefix.rstrip('.')}: {a!r} != {b!r}"
