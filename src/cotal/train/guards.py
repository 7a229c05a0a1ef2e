"""Numerical guards of training: a non-finite loss stops at its step, a non-finite model is never saved or resumed.

Without them an overflow (e.g. finite features of 1e20 in float32) trains to NaN silently, saves an all-NaN
model and surfaces much later as an error about whichever video detection happens to read first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import torch

from cotal.errors import DataError, NumericalError

_SHOWN_VIDEOS = 5


def check_finite_loss(
    total: torch.Tensor, terms: Mapping[str, torch.Tensor | float], step: int, video_ids: Sequence[str]
) -> None:
    """Raise :class:`NumericalError` naming the step, the batch's videos and the bad term(s) unless finite."""
    if math.isfinite(_scalar(total)):
        return
    bad = [k for k, v in terms.items() if not math.isfinite(_scalar(v))] or ["total"]
    shown = ", ".join(video_ids[:_SHOWN_VIDEOS]) + (", ..." if len(video_ids) > _SHOWN_VIDEOS else "")
    raise NumericalError(
        f"training step {step}: loss term {', '.join(bad)} is not finite on the batch of videos {shown}; "
        "check their feature values (`cotal data check`) or lower train.lr"
    )


def _scalar(value: torch.Tensor | float) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def nonfinite_tensor(state: Mapping[str, object]) -> str | None:
    """Name of the first floating-point tensor of a state dict holding NaN/Inf (None when all are finite)."""
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            return name
    return None


def check_finite_state(state: Mapping[str, object], path: str | os.PathLike, action: str) -> None:
    """Raise :class:`NumericalError` if a model state to ``action`` ("save"/"load") at ``path`` is not finite."""
    if not isinstance(state, Mapping):
        raise DataError(f"{path}: malformed model state (expected a mapping of tensors, got {type(state).__name__})")
    name = nonfinite_tensor(state)
    if name is not None:
        raise NumericalError(f"{path}: refusing to {action} a model whose parameter {name!r} holds NaN/Inf")
