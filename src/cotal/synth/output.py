"""Whole-folder output: refuse to clobber, write beside the target, rename into place."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from cotal.errors import ConfigError
from cotal.utils.io import staging_dir


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Raise :class:`ConfigError` if ``out`` is a file, or a non-empty folder and not ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: folder is not empty; pass --overwrite (overwrite=True) to replace it")


@contextlib.contextmanager
def staged_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; on success it replaces ``out``, on error it is removed.

    Nothing half-written ever appears under ``out``; an old ``out`` is deleted only after the swap.
    """
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(out)
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
