"""Input standardisation: training-set statistics only, stored in the run and inside every model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cotal.data import FeatureDataset
from cotal.data.normalize import fit_normalization, load_normalization, save_normalization
from cotal.errors import ConfigError, DataError
from cotal.model import CoAttentionModel, ModelConfig
from cotal.utils.io import write_npy
from tests.toy_data import write_toy_dataset


def test_zscore_uses_training_videos_only(tmp_path):
    root = write_toy_dataset(tmp_path / "d", num_videos=12)
    ds = FeatureDataset(root)
    # A test video far off the training distribution must not move the statistics.
    vid = ds.test_ids[0]
    write_npy(root / "rgb" / f"{vid}.npy", np.full((ds.num_snippets(vid), 8), 1e4, dtype=np.float32))
    ds = FeatureDataset(root)
    norm = fit_normalization(ds, ds.train_ids, ("rgb", "flow"), "zscore")
    x = np.concatenate([norm.apply(ds.features(v, "rgb"), "rgb") for v in ds.train_ids])
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-3)
    assert np.abs(norm.apply(ds.features(vid, "rgb"), "rgb")).max() > 100


def test_constant_dimension_is_not_blown_up(tmp_path):
    root = write_toy_dataset(tmp_path / "d")
    ds = FeatureDataset(root)
    for v in ds.video_ids():
        x = np.array(ds.features(v, "rgb"))
        x[:, 0] = 5.0
        write_npy(root / "rgb" / f"{v}.npy", x)
    ds = FeatureDataset(root)
    norm = fit_normalization(ds, ds.train_ids, ("rgb",), "zscore")
    z = norm.apply(ds.features(ds.train_ids[0], "rgb"), "rgb")
    assert np.isfinite(z).all() and np.abs(z[:, 0]).max() < 1e-3


def test_none_is_identity_and_roundtrip(tmp_path):
    root = write_toy_dataset(tmp_path / "d")
    ds = FeatureDataset(root)
    none = fit_normalization(ds, ds.train_ids, ("rgb",), "none")
    x = np.asarray(ds.features(ds.train_ids[0], "rgb"))
    np.testing.assert_array_equal(none.apply(x, "rgb"), x)
    z = fit_normalization(ds, ds.train_ids, ("rgb", "flow"), "zscore")
    save_normalization(tmp_path / "n.npz", z)
    back = load_normalization(tmp_path / "n.npz")
    assert back.method == "zscore" and set(back.streams) == {"rgb", "flow"}
    np.testing.assert_array_equal(back.apply(x, "rgb"), z.apply(x, "rgb"))
    with pytest.raises(ConfigError, match="data.normalize"):
        fit_normalization(ds, ds.train_ids, ("rgb",), "l2")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        load_normalization(tmp_path / "bad.npz")


def test_model_applies_its_stored_normalization():
    torch.manual_seed(0)
    model = CoAttentionModel(4, 2, ModelConfig(base_dim=8, dropout=0.0)).eval()
    x = torch.randn(1, 10, 4) * 50 + 7
    shift, scale = torch.full((4,), 7.0), torch.full((4,), 1 / 50)
    plain = model((x - shift) * scale).logits
    model.set_input_normalization(shift, scale)
    np.testing.assert_allclose(model(x).logits.detach(), plain.detach(), rtol=1e-5, atol=1e-6)
    state = model.state_dict()
    assert torch.equal(state["input_shift"], shift)  # saved with the weights
    with pytest.raises(ConfigError, match="4 entries"):
        model.set_input_normalization(torch.zeros(3), torch.ones(3))
