"""Runtime settings: kept heap memory is reused instead of faulted in again (cotal.utils.runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Allocates, touches and frees a 64 MiB block five times; prints the page faults of the last four rounds.
PROBE = """
import json, resource, sys
import numpy as np
from cotal.utils.runtime import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
np.ones(1 << 24, dtype=np.float32)  # first round: the heap grows once either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    np.ones(1 << 24, dtype=np.float32)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not glibc(), reason="the setting applies to glibc's allocator only")
def test_freed_blocks_are_reused_not_faulted_in_again():
    default, kept = probe("default"), probe("keep")
    assert kept["applied"] is True
    # glibc's default maps every round afresh: >= 4 x 32 faults even with 2 MiB transparent huge pages
    assert default["faults"] >= 4 * 32
    assert kept["faults"] <= default["faults"] // 10  # kept: the same heap memory every round


def test_not_applied_off_glibc(monkeypatch):
    from cotal.utils import runtime

    monkeypatch.setattr(runtime.os, "confstr", lambda name: "musl")
    assert runtime.keep_freed_memory() is False
