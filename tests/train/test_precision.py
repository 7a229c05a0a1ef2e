"""Mixed precision (bf16 autocast) against float32 on CPU: features, model outputs, losses and training.

Tolerances: bfloat16 keeps 8 mantissa bits (relative rounding 2^-8 ~ 0.4% per operation); after a few dozen
layers the accumulated error of a whole network stays within a few percent. Each check states its bound.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.data import FeatureDataset
from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig
from cotal.features.i3d import InceptionI3d
from cotal.model import CoAttentionLoss, CoAttentionModel, LossConfig, ModelConfig
from cotal.train.batching import collate
from cotal.train.log import LOG_CSV
from cotal.train.trainer import Trainer
from cotal.utils.precision import autocast
from tests.train.train_helpers import default_loss, gt_labels, tiny_model_config, tiny_train_config

CPU = torch.device("cpu")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||, in float64."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def test_i3d_features_bf16_within_3_percent_of_float32():
    torch.manual_seed(0)
    net = InceptionI3d().eval()
    x = torch.rand(1, 3, 8, 32, 32) * 2 - 1  # small: bf16 3D convolutions are slow on CPU
    with torch.inference_mode():
        ref = net.features(x)
        with autocast(CPU, "bf16"):
            low = net.features(x)
    assert low.dtype == torch.bfloat16  # autocast really ran the network in bf16
    assert rel_err(low.float(), ref) < 0.03
    assert torch.nn.functional.cosine_similarity(low.float(), ref).min() > 0.999


@torch.no_grad()
def test_model_outputs_and_losses_bf16_close_to_float32():
    torch.manual_seed(0)
    model = CoAttentionModel(64, 4, ModelConfig(dropout=0.0)).eval()
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randn(t, 64, generator=gen) for t in (40, 55, 70, 90)]
    x, mask = collate(seqs)
    groups = torch.tensor([0, 0, 1, 1])
    targets = torch.nn.functional.one_hot(groups, 4).float()
    loss = CoAttentionLoss(LossConfig(alpha=0.1))
    ref = model(x, mask)
    with autocast(CPU, "bf16"):
        low = model(x, mask)
    assert low.logits.dtype == torch.bfloat16  # autocast really ran the model in bf16
    for name in ("cas", "x_cs", "x_ca", "logits"):
        assert rel_err(getattr(low, name).float(), getattr(ref, name)) < 0.03, name
    # attention is a softmax over time: compare probabilities absolutely (they sum to 1 per video)
    assert (low.attention.float() - ref.attention).abs().max() < 2e-3
    low = type(low)(**{k: v.float() for k, v in vars(low).items()})  # losses run in float32, as in the trainer
    total_ref, terms_ref = loss(ref, mask, targets, groups)
    total_low, terms_low = loss(low, mask, targets, groups)
    assert float(total_low) == pytest.approx(float(total_ref), rel=0.02)
    for name, value in terms_ref.items():
        assert float(terms_low[name]) == pytest.approx(float(value), rel=0.05, abs=1e-3), name


def _first_losses(ds: FeatureDataset, run_dir: Path, precision: str) -> np.ndarray:
    ids, _, targets, groups = gt_labels(ds)
    Trainer(
        ds, ids, targets, groups, stream="rgb", model_config=tiny_model_config(dropout=0.0),
        loss_config=default_loss(), train_config=tiny_train_config(epochs=2, precision=precision),
        run_dir=run_dir, progress=False,
    ).fit()  # fmt: skip
    with open(run_dir / LOG_CSV, newline="") as fh:
        return np.array([float(row["total"]) for row in csv.DictReader(fh)])


def test_training_in_bf16_follows_float32(toy_dataset: Path, tmp_path: Path):
    ds = FeatureDataset(toy_dataset)
    ref = _first_losses(ds, tmp_path / "f32", "float32")
    low = _first_losses(ds, tmp_path / "bf16", "bf16")
    assert np.isfinite(low).all()
    np.testing.assert_allclose(low, ref, rtol=0.05)  # same batches and crops: the same loss curve within 5%


def test_precision_settings_are_checked():
    with pytest.raises(ConfigError, match="train.precision"):
        tiny_train_config(precision="fp16")  # float16 training would need a gradient scaler
    with pytest.raises(ConfigError, match="precision"):
        ExtractConfig(precision="int8")
    with pytest.raises(ConfigError, match="CUDA"):
        autocast(CPU, "fp16")


def test_checkpoint_of_another_precision_is_refused(toy_dataset: Path, tmp_path: Path):
    ds = FeatureDataset(toy_dataset)
    _first_losses(ds, tmp_path / "run", "bf16")
    with pytest.raises(ConfigError, match="precision"):
        _first_losses(ds, tmp_path / "run", "float32")
