"""Files of a trained model: ``model.pt`` (written at the end of training, read by detection and ONNX export).

PyTorch loads on the first save/load, so that the torch-free detection code can import this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from cotal.errors import DataError, NumericalError
from cotal.model.config import ModelConfig
from cotal.utils.io import torch_load_safe, torch_save_atomic

if TYPE_CHECKING:
    from cotal.model.coattention import CoAttentionModel

MODEL_FORMAT = "cotal-model-v2"


def save_model(path: str | Path, model: CoAttentionModel, *, stream: str, step: int) -> None:
    """Write a trained model (sizes, config, weights, input stream) atomically; load with :func:`load_model`."""
    cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    check_finite_state(cpu_state, path, "save")
    torch_save_atomic(
        path,
        {
            "format": MODEL_FORMAT,
            "in_dim": model.in_dim,
            "num_classes": model.num_classes,
            "model_config": asdict(model.config),
            "state_dict": cpu_state,
            "stream": stream,
            "step": int(step),
        },
    )


def load_model(path: str | Path, device: str = "cpu") -> tuple[CoAttentionModel, str]:
    """Load a ``model.pt`` written by training (weights_only): returns (model in eval mode, its input stream)."""
    from cotal.model.coattention import CoAttentionModel

    state = torch_load_safe(path, map_location=device)
    if not isinstance(state, dict) or not str(state.get("format", "")).startswith("cotal-model-"):
        raise DataError(f"{path}: not a cotal model file")
    if state["format"] != MODEL_FORMAT:
        raise DataError(
            f"{path}: a model file of another cotal version ({state['format']}; this cotal reads {MODEL_FORMAT})"
        )
    check_finite_state(state["state_dict"], path, "load")
    model = CoAttentionModel(state["in_dim"], state["num_classes"], ModelConfig.from_dict(state["model_config"]))
    model.to(device).load_state_dict(state["state_dict"])
    model.eval()
    return model, state["stream"]


def check_finite_state(state: Mapping[str, object], path: str | os.PathLike, action: str) -> None:
    """Raise :class:`NumericalError` if a model state to ``action`` ("save"/"load"/"resume") at ``path`` holds
    NaN/Inf, and :class:`DataError` if it is not a mapping of tensors."""
    import torch

    if not isinstance(state, Mapping):
        raise DataError(f"{path}: malformed model state (expected a mapping of tensors, got {type(state).__name__})")
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise NumericalError(f"{path}: refusing to {action} a model whose parameter {name!r} holds NaN/Inf")
