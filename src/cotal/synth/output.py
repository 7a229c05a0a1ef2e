"""Whole-folder output: refuse to clobber or to start what cannot fit, write beside the target, rename into place.

Thin wrappers over :mod:`cotal.utils.outdir`, which holds the rules (marker, overlap, staging) for every command.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from cotal.errors import ConfigError
from cotal.synth.config import SynthConfig
from cotal.utils.outdir import check_target, staged_folder

# Memory a parametric skeleton holds per video (annotation objects; measured about 650 bytes).
SKELETON_BYTES_PER_VIDEO = 1024
# float64 arrays of one video's size the generator holds at once.
WORKING_ARRAYS = 8


def check_output_dir(out: Path, overwrite: bool, inputs: Sequence[str | os.PathLike] = ()) -> None:
    """Raise :class:`ConfigError` if ``out`` is a file, overlaps one of ``inputs`` (a skeleton file), or is a
    non-empty folder and not ``overwrite`` of a dataset folder cotal made."""
    check_target(out, "dataset", inputs=inputs, overwrite=overwrite)


@contextlib.contextmanager
def staged_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out``; on success it replaces ``out``, on error it is removed.

    Nothing half-written ever appears under ``out``; an old ``out`` is deleted only after the swap.
    """
    check_output_dir(out, overwrite)
    with staged_folder(out, "dataset") as tmp:
        yield tmp


def check_capacity(out: Path, config: SynthConfig, durations: Sequence[float] | None = None) -> None:
    """Refuse, before anything is generated, a dataset that the disk at ``out`` or the memory cannot hold.

    Args:
        out: the dataset folder (its nearest existing ancestor gives the free disk space).
        config: the generator's sizes.
        durations: the skeleton's video durations (seconds); None for a parametric skeleton not built yet.
    Raises:
        ConfigError: saying how much disk and memory the dataset would need and how much there is.
    """
    c = config
    if durations is None:
        count = c.num_videos if c.max_videos is None else min(c.num_videos, c.max_videos)
        low, high = c.min_duration, c.max_duration
        mean = high if high <= low else (high - low) / math.log(high / low)  # log-uniform durations
        skeleton = c.num_videos * SKELETON_BYTES_PER_VIDEO
    else:
        count, high = len(durations), max(durations, default=0.0)
        mean = sum(durations) / max(1, count)
        skeleton = 0
    per_second = c.fps / c.stride
    snippets = count * max(1.0, mean * per_second)
    disk = snippets * c.dim * 4 * 2  # float32, rgb and flow
    width = max(c.dim, c.latent_dim)
    prototypes = (c.num_classes * (c.class_modes + 2) + c.num_scenes + c.num_background_types + c.num_subjects) * 8
    memory = skeleton + max(1.0, high * per_second) * width * 8 * WORKING_ARRAYS
    memory += 2 * (prototypes * c.latent_dim + c.dim * c.latent_dim * 8) + c.num_classes * 100
    folder = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    free_disk, free_memory = shutil.disk_usage(folder).free, available_memory()
    if disk > free_disk or memory > free_memory:
        raise ConfigError(
            f"synth config: {count} videos of about {snippets / max(1, count):.0f} snippets x {c.dim} dims x 2 "
            f"streams need about {_size(disk)} of disk and {_size(memory)} of memory; {folder} has {_size(free_disk)} "
            f"free and this machine {_size(free_memory)} of memory available"
        )


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux: MemAvailable; elsewhere the free physical pages)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/meminfo") as fh:
            line = next(line for line in fh if line.startswith("MemAvailable:"))
        return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
