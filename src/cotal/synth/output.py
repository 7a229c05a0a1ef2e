"""Whole-folder output: refuse to clobber, write beside the target, rename into place.

Thin wrappers over :mod:`cotal.utils.outdir`, which holds the rules (marker, overlap, staging) for every command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cotal.utils.outdir import check_target, staged_folder


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Raise :class:`ConfigError` if ``out`` is a file, or a non-empty folder and not ``overwrite`` of a
    dataset folder cotal made."""
    check_target(out, "dataset", overwrite=overwrite)


@contextlib.contextmanager
def staged_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; on success it replaces ``out``, on error it is removed.

    Nothing half-written ever appears under ``out``; an old ``out`` is deleted only after the swap.
    """
    check_output_dir(out, overwrite)
    with staged_folder(out, "dataset") as tmp:
        yield tmp
