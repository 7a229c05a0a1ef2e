"""Files of a trained model: ``model.pt`` (written at the end of training, read by detection and ONNX export).

Also names the per-video outputs of a model (``OUTPUT_KEYS``), which export writes and detection reads.
PyTorch loads on the first save/load, so that the torch-free detection code can import this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from cotal.errors import DataError, NumericalError
from cotal.model.config import ModelConfig
from cotal.utils.io import torch_load_safe, torch_save_atomic

if TYPE_CHECKING:
    from cotal.model.coattention import CoAttentionModel

MODEL_FORMAT = "cotal-model-v1"
# One video's outputs: "cas" (T, C) class activation logits, "attention" (T,) S, "probs" (C,) softmax(logits).
OUTPUT_KEYS = ("cas", "attention", "probs")


def save_model(path: str | Path, model: CoAttentionModel, *, streams: Sequence[str], step: int) -> None:
    """Write a trained model (config, weights, input streams) atomically; load with :func:`load_model`."""
    cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    check_finite_state(cpu_state, path, "save")
    torch_save_atomic(
        path,
        {
            "format": MODEL_FORMAT,
            "model_config": asdict(model.config),
            "state_dict": cpu_state,
            "streams": list(streams),
            "step": int(step),
        },
    )


def load_model(path: str | Path, device: str = "cpu") -> tuple[CoAttentionModel, tuple[str, ...]]:
    """Load a ``model.pt`` written by training (weights_only): returns (model in eval mode, input streams)."""
    from cotal.model.coattention import CoAttentionModel

    state = torch_load_safe(path, map_location=device)
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a cotal model file")
    check_finite_state(state["state_dict"], path, "load")
    model = CoAttentionModel(ModelConfig.from_dict(state["model_config"])).to(device)
    weights = state["state_dict"]
    for key in ("input_shift", "input_scale"):  # model files written before input standardisation existed
        weights.setdefault(key, getattr(model, key))
    model.load_state_dict(weights)
    model.eval()
    return model, tuple(state["streams"])


def check_finite_state(state: Mapping[str, object], path: str | os.PathLike, action: str) -> None:
    """Raise :class:`NumericalError` if a model state to ``action`` ("save"/"load"/"resume") at ``path`` holds
    NaN/Inf, and :class:`DataError` if it is not a mapping of tensors."""
    import torch

    if not isinstance(state, Mapping):
        raise DataError(f"{path}: malformed model state (expected a mapping of tensors, got {type(state).__name__})")
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise NumericalError(f"{path}: refusing to {action} a model whose parameter {name!r} holds NaN/Inf")
