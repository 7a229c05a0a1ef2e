"""Seeding: one call sets every generator cotal uses; generators are passed explicitly elsewhere."""

from __future__ import annotations

import random

import numpy as np

from cotal.errors import ConfigError
from cotal.utils.text import short_repr

# Seeds are what every generator cotal feeds accepts: NumPy's global generator and scikit-learn take 32 bits.
MAX_SEED = 2**32 - 1


def check_seed(seed: object, where: str) -> int:
    """``seed`` if it is an integer in ``[0, MAX_SEED]``; else a :class:`ConfigError` naming ``where``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{where} must be an integer in [0, {MAX_SEED}], got {short_repr(seed)}")
    return seed


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator (np.random.seed) and PyTorch (CPU and CUDA)."""
    check_seed(seed, "seed")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code still draws from it
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
