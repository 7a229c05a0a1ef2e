"""Checkpoints load weights only, and a file that is not one fails in one line naming it (cotal.utils.io)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cotal.errors import DataError
from cotal.utils.io import torch_load_safe


class _Opaque:
    """An object a weights-only load must refuse."""


def test_weights_load_and_bad_files_fail_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"w": torch.arange(3.0)}, good)
    assert torch.equal(torch_load_safe(good)["w"], torch.arange(3.0))

    text, objects, cut = tmp_path / "text.pt", tmp_path / "objects.pt", tmp_path / "cut.pt"
    text.write_text("not a checkpoint")
    torch.save({"w": _Opaque()}, objects)
    cut.write_bytes(good.read_bytes()[:40])
    for path, match in [
        (text, "not a weights-only PyTorch checkpoint"),
        (objects, "not a weights-only PyTorch checkpoint"),
        (cut, "cannot load checkpoint"),
        (tmp_path / "missing.pt", "checkpoint not found"),
    ]:
        with pytest.raises(DataError, match=match) as info:
            torch_load_safe(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message and "weights_only=False" not in message
