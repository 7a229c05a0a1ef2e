"""Export of full-length model outputs and their .npz archive."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.data import FeatureDataset
from cotal.errors import DataError
from cotal.model import CoAttentionModel, VideoOutput
from cotal.train.batching import capped_buckets
from cotal.train.export import export_outputs, load_outputs, save_outputs
from tests.train.train_helpers import tiny_model_config


@pytest.fixture
def model() -> CoAttentionModel:
    torch.manual_seed(0)
    net = CoAttentionModel(8, 3, tiny_model_config())
    with torch.no_grad():  # non-zero weights for zero-initialised layers (non-local output) so leaks would show
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.1)
    return net.train()


def test_outputs_have_full_length_and_normalised_attention(toy_dataset: Path, model: CoAttentionModel) -> None:
    ds = FeatureDataset(toy_dataset)
    ids = ds.video_ids()
    outputs = export_outputs(model, ds, ids, "rgb", batch_size=4)
    assert list(outputs) == ids
    assert model.training  # the caller's mode is restored
    for vid in ids:
        out = outputs[vid]
        t = ds.num_snippets(vid)
        assert out.cas.shape == (t, 3) and out.attention.shape == (t,) and out.probs.shape == (3,)
        assert all(a.dtype == np.float32 for a in out.arrays().values())
        assert out.attention.sum() == pytest.approx(1.0, abs=1e-5) and (out.attention >= 0).all()
        assert out.probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_batched_export_equals_one_video_at_a_time(toy_dataset: Path, model: CoAttentionModel) -> None:
    ds = FeatureDataset(toy_dataset)
    ids = ds.video_ids()
    batched = export_outputs(model, ds, ids, "rgb", batch_size=5)
    single = export_outputs(model, ds, ids, "rgb", batch_size=1)
    for vid in ids:
        for key in ("cas", "attention", "probs"):
            np.testing.assert_allclose(getattr(batched[vid], key), getattr(single[vid], key), rtol=1e-5, atol=1e-6)


def test_capped_buckets_cover_each_video_once_within_limits() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=57)
    buckets = capped_buckets(lengths, max_videos=8, max_snippets=1200)
    flat = np.concatenate(buckets)
    assert sorted(flat.tolist()) == list(range(57))
    for b in buckets:
        assert len(b) <= 8
        assert len(b) == 1 or len(b) * lengths[b].max() <= 1200
    # a video longer than max_snippets runs alone
    assert [len(b) for b in capped_buckets(np.array([5, 5000, 6]), max_videos=8, max_snippets=100)] == [2, 1]


def test_save_and_load_round_trip(tmp_path: Path, toy_dataset: Path, model: CoAttentionModel) -> None:
    ds = FeatureDataset(toy_dataset)
    outputs = export_outputs(model, ds, ds.train_ids, "rgb")
    path = tmp_path / "out" / "outputs.npz"
    save_outputs(path, outputs)
    loaded = load_outputs(path)
    assert loaded.keys() == outputs.keys()
    for vid in outputs:
        for key in ("cas", "attention", "probs"):
            np.testing.assert_array_equal(getattr(loaded[vid], key), getattr(outputs[vid], key))
    with zipfile.ZipFile(path) as z:  # plain arrays, one per key: readable without pickle
        assert f"{ds.train_ids[0]}/cas.npy" in z.namelist()
    assert [p.name for p in path.parent.iterdir()] == ["outputs.npz"]  # no temporary left behind


def test_bad_archives_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_outputs(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="readable"):
        load_outputs(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", **{"v1/cas": np.zeros((4, 2)), "v1/attention": np.ones(4) / 4})
    with pytest.raises(DataError, match="'v1' lacks probs"):
        load_outputs(tmp_path / "partial.npz")
    bad = {"v1/cas": np.zeros((4, 2)), "v1/attention": np.ones(5) / 5, "v1/probs": np.ones(2) / 2}
    np.savez(tmp_path / "shapes.npz", **bad)
    with pytest.raises(DataError, match="outputs must be cas"):
        load_outputs(tmp_path / "shapes.npz")
    with pytest.raises(DataError, match="NaN"):
        VideoOutput(np.full((2, 2), np.nan), np.ones(2) / 2, np.ones(2) / 2)
