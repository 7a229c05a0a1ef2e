"""The torch device of a process, from one spec that extraction and training share.

A spec is "auto" (CUDA when available, else the CPU), "cpu", "cuda" or "cuda:K". Under ``torchrun`` (``LOCAL_RANK``
set) "auto" and "cuda" on a CUDA machine mean ``cuda:LOCAL_RANK``: one GPU per process. :func:`parse_device` is
free of PyTorch, so configs check their spec when they are built; :func:`select_device` resolves it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cotal.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_SPECS = "auto, cpu, cuda or cuda:K"


def parse_device(spec: object, where: str = "device") -> tuple[str, int | None]:
    """``("auto" | "cpu" | "cuda", index or None)`` of a device spec.

    Args:
        spec: "auto", "cpu", "cuda" or "cuda:K" (K a non-negative integer).
        where: the setting's name in messages, e.g. "train.device".

    Raises:
        ConfigError: any other value.
    """
    if isinstance(spec, str):
        kind, colon, index = spec.partition(":")
        if kind in ("auto", "cpu", "cuda") and not colon:
            return kind, None
        if kind == "cuda" and index.isascii() and index.isdigit():
            return kind, int(index)
    raise ConfigError(f"{where}: unknown device {spec!r}; expected {DEVICE_SPECS}")


def select_device(spec: str, where: str = "device") -> torch.device:
    """The device that ``spec`` names on this machine, in this process (see the module docstring).

    Raises:
        ConfigError: an unknown spec, CUDA asked for where torch sees no CUDA device, a device index (or
            ``LOCAL_RANK``) beyond the devices torch sees, or a ``LOCAL_RANK`` that is not an integer.
    """
    import torch

    kind, index = parse_device(spec, where)
    if kind == "cpu" or (kind == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"{where} is {spec!r} but torch sees no CUDA device")
    source = f"{where} {spec!r}"
    if index is None:
        index = _local_rank()
        if index is None:
            return torch.device("cuda")
        source = f"LOCAL_RANK={index}"
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"{source} names cuda:{index}, but torch sees {count} CUDA device(s)")
    return torch.device("cuda", index)


def _local_rank() -> int | None:
    """``LOCAL_RANK`` (set by torchrun in each process), or None when unset or empty."""
    raw = os.environ.get("LOCAL_RANK", "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigError(f"environment variable LOCAL_RANK={raw!r} is not a non-negative integer")
    return int(raw)
