"""Shared fixtures: a tiny native-layout dataset written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toy_data import write_toy_dataset


@pytest.fixture
def toy_dataset(tmp_path: Path) -> Path:
    """Path of a freshly written toy dataset (12 videos, 3 classes, 8-d rgb + flow)."""
    return write_toy_dataset(tmp_path / "toy")
