"""Process-wide runtime settings that the ``cotal`` command applies and library users may call themselves.

Both change how the process runs, never what it computes (results are bit-identical with or without them),
and both are opt-in for library code: importing cotal changes nothing.
"""

from __future__ import annotations

import ctypes
import os

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt takes (an int)


def prefer_passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spin-waiting, unless the user chose a policy.

    With the default (active) policy, PyTorch's worker threads spin between parallel regions; on a shared CPU
    they burn the cores another process needs and a training step slows several-fold (docs/benchmarks.md,
    ``benchmarks/thread_contention.py``). OpenMP reads the variable once, when PyTorch loads, so the command
    calls this before any module imports torch; in your own process, call it before ``import torch``.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def keep_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory there for reuse (glibc only).

    By default glibc gives every block above its mmap threshold (at most 32 MiB) pages of its own and unmaps
    them on free, so each network call on a batch of snippets has the kernel fault in and zero its
    activations (~100 MiB each at 224 px) again: about a sixth of extraction's CPU time was system time
    (docs/extraction.md). With mmap off and a 2 GiB trim threshold, freed activations are reused by the next
    call. Memory that was freed stays with the process, up to its peak, until it exits.

    Returns:
        whether the setting was applied (False where the C library is not glibc).
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name (musl, macOS)
        return False
    libc = ctypes.CDLL(None)  # the running program's symbols, glibc's among them
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
