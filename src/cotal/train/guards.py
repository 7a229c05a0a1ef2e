"""Numerical guard of training: a non-finite loss stops at its step (a non-finite model is never saved, loaded or
resumed either: :func:`cotal.model.io.check_finite_state`).

Without these checks an overflow (e.g. finite features of 1e20 in float32) trains to NaN silently, saves an all-NaN
model and surfaces much later as an error about whichever video detection happens to read first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from cotal.errors import NumericalError

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
