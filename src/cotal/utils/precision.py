"""Mixed precision: the ``precision`` setting of training and extraction, as an autocast context.

"float32" runs everything in float32 (the default: same seeds, same numbers). "bf16" runs matrix products and
convolutions in bfloat16 under ``torch.autocast`` on CPU or CUDA; bfloat16 keeps float32's exponent range,
so training needs no loss scaling. "fp16" (float16) is offered for inference (feature extraction) on CUDA,
where its wider mantissa is slightly more accurate than bfloat16; training in float16 would need a gradient
scaler and is refused.
"""

from __future__ import annotations

import contextlib

import torch

from cotal.errors import ConfigError

PRECISIONS = ("float32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, *, where: str, training: bool) -> None:
    """Raise :class:`ConfigError` for an unknown precision, or float16 for training."""
    allowed = PRECISIONS[:2] if training else PRECISIONS
    if precision not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, got {precision!r}")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context that runs a forward pass in ``precision`` on ``device`` (a no-op for "float32")."""
    if precision == "float32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device (CPUs have no fast float16 kernels); use bf16")
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])
