"""Helpers of the fault suite (tests/test_faults_*.py): file-tree snapshots and one-line CLI runs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cotal.cli.main import main

# The published-layout writers live beside the converter tests; re-exported here for the fault suite.
from tests.data.published_layouts import write_um, write_wtalc  # noqa: E402

__all__ = ["one_line_error", "run_cli", "snapshot", "write_um", "write_wtalc"]


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: relative path -> "dir", "link to <target>" or the sha256 of the file's bytes.

    Symbolic links are recorded, never followed (what they point at inside ``root`` is recorded on its own).
    """
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = f"link to {os.readlink(p)}"
            else:
                out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run ``cotal ARGS`` in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str, *needles: str) -> str:
    """Assert ``err`` is exactly one line (no traceback) containing every needle; returns it."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]
