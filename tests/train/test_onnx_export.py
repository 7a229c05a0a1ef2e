"""ONNX export: the exported graph matches PyTorch to 1e-4 at any length; cotal export writes a manifest."""

from __future__ import annotations

import sys

import pytest
import torch

from cotal.cli.main import main
from cotal.errors import ConfigError
from cotal.model import save_model
from cotal.model.coattention import CoAttentionModel, ModelConfig
from cotal.utils.io import read_json, write_json
from tests.extras import skip_without_extra

skip_without_extra("export")

from cotal.train.onnx_export import TOLERANCE, check_export, export_model, export_run, max_shift  # noqa: E402


def _model(seed: int = 0, **over) -> CoAttentionModel:
    torch.manual_seed(seed)
    model = CoAttentionModel(12, 4, ModelConfig(**{"base_dim": 16, **over})).eval()
    with torch.no_grad():  # no zero-initialised block: every path (the non-local one too) must be exported right
        for p in model.parameters():  # scaled by fan-in, so activations stay O(1) through the layers
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() == 1 else p[0].numel() ** -0.5))
    return model


@pytest.mark.parametrize(
    "over",
    [{}, {"fab": "paper"}],
)
def test_exported_graph_matches_pytorch_at_every_length(tmp_path, over):
    model = _model(**over)
    path = tmp_path / "m.onnx"
    export_model(model, path)
    # Lengths below the largest tap offset included: those need the masked padding of the export.
    lengths = (1, 2, max_shift(model), 23, 64)
    assert check_export(model, path, lengths=lengths) <= TOLERANCE


def test_export_run_writes_models_and_manifest(tmp_path, capsys):
    run = tmp_path / "run"
    models = {"rgb": _model(1), "flow": _model(2)}
    for name, model in models.items():
        save_model(run / "round_1" / f"model_{name}" / "model.pt", model, stream=name, step=1)
    final = {"supervision": "none", "class_names": ["0", "1", "2", "3"], "models": {}}
    final["models"] = {n: f"round_1/model_{n}/model.pt" for n in models}
    write_json(run / "final.json", final)
    assert main(["export", str(run), "--onnx", str(tmp_path / "onnx")]) == 0
    manifest = read_json(tmp_path / "onnx" / "manifest.json")
    assert set(manifest["models"]) == {"rgb", "flow"} and manifest["labels"] == ["0", "1", "2", "3"]
    assert all(rec["max_abs_diff"] <= TOLERANCE for rec in manifest["models"].values())
    assert (tmp_path / "onnx" / "rgb.onnx").stat().st_size > 1000
    assert "max |PyTorch - onnxruntime|" in capsys.readouterr().out


def test_export_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "o")]) == 2
    assert "final.json" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"cotal\[export\]"):
        export_run(tmp_path, tmp_path / "o")
