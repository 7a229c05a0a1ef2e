"""Descriptor pooling: weighted temporal pooling, per-stream L2 normalisation, attention handling."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.cluster import pool_features, video_descriptors
from cotal.cluster.weights import SnippetWeights
from cotal.data.dataset import FeatureDataset
from cotal.errors import DataError


def test_pool_uniform_is_normalised_mean() -> None:
    x = np.random.default_rng(0).normal(size=(7, 5))
    mean = x.mean(axis=0)
    np.testing.assert_allclose(pool_features(x, normalize=False), mean, rtol=1e-12)
    np.testing.assert_allclose(pool_features(x), mean / np.linalg.norm(mean), rtol=1e-12)
    assert np.linalg.norm(pool_features(x)) == pytest.approx(1.0)


def test_pool_weights_are_renormalised() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(6, 4)), rng.uniform(size=6)
    expected = x.T @ (w / w.sum())
    np.testing.assert_allclose(pool_features(x, 3.7 * w, normalize=False), expected, rtol=1e-12)


def test_pool_one_hot_weights_pick_a_snippet() -> None:
    x = np.random.default_rng(2).normal(size=(5, 3))
    w = np.zeros(5)
    w[3] = 1.0
    np.testing.assert_allclose(pool_features(x, w), x[3] / np.linalg.norm(x[3]), rtol=1e-12)


@pytest.mark.parametrize(
    ("weights", "message"),
    [(np.ones(4), "length 4"), (-np.ones(5), ">= 0"), (np.zeros(5), "sum to 0"), (np.full(5, np.nan), "finite")],
)
def test_pool_rejects_bad_weights(weights: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        pool_features(np.ones((5, 3)), weights)


def _pooled(ds: FeatureDataset, vid: str, stream: str, w: np.ndarray | None = None) -> np.ndarray:
    x = np.asarray(ds.features(vid, stream), dtype=np.float64)
    w = np.full(len(x), 1.0 / len(x)) if w is None else w / w.sum()
    f = x.T @ w
    return f / np.linalg.norm(f)


def test_descriptors_concatenate_normalised_streams(toy_dataset) -> None:
    ds = FeatureDataset(toy_dataset)
    ids = ds.train_ids
    x = video_descriptors(ds, ids)
    assert x.dtype == np.float32 and x.shape == (len(ids), 16)
    np.testing.assert_allclose(np.linalg.norm(x[:, :8], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(x[:, 8:], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(x[2, :8], _pooled(ds, ids[2], "rgb"), rtol=1e-5)
    np.testing.assert_allclose(x[2, 8:], _pooled(ds, ids[2], "flow"), rtol=1e-5)
    flow_only = video_descriptors(ds, ids, streams=["flow"])
    np.testing.assert_allclose(flow_only, x[:, 8:])
    # Order is canonical (rgb first) whatever order the caller lists the streams in.
    np.testing.assert_array_equal(video_descriptors(ds, ids, streams=["flow", "rgb"]), x)


def test_descriptors_honour_weights_per_stream_and_shared(toy_dataset) -> None:
    ds = FeatureDataset(toy_dataset)
    ids = ds.train_ids[:3]
    rng = np.random.default_rng(0)
    per_stream = {s: {v: rng.uniform(size=ds.num_snippets(v)) for v in ids} for s in ("rgb", "flow")}
    x = video_descriptors(ds, ids, SnippetWeights(per_stream))
    for i, v in enumerate(ids):
        np.testing.assert_allclose(x[i, :8], _pooled(ds, v, "rgb", per_stream["rgb"][v]), rtol=1e-5)
        np.testing.assert_allclose(x[i, 8:], _pooled(ds, v, "flow", per_stream["flow"][v]), rtol=1e-5)
    shared = per_stream["rgb"]
    both = video_descriptors(ds, ids, SnippetWeights.shared(shared, ds.streams))
    np.testing.assert_allclose(both[:, :8], x[:, :8])
    assert not np.allclose(both, video_descriptors(ds, ids))  # the weights changed something


def test_descriptors_reject_bad_weights(toy_dataset) -> None:
    ds = FeatureDataset(toy_dataset)
    vid = ds.train_ids[0]
    t = ds.num_snippets(vid)
    with pytest.raises(DataError, match=rf"{vid}.*rgb.*length {t + 1}.*T={t}"):
        video_descriptors(ds, [vid], SnippetWeights.shared({vid: np.ones(t + 1)}, ds.streams))
    with pytest.raises(DataError, match=f"no video '{ds.train_ids[1]}'"):
        video_descriptors(ds, ds.train_ids[:2], SnippetWeights.shared({vid: np.ones(t)}, ds.streams))
    with pytest.raises(DataError, match="no stream 'flow'"):
        video_descriptors(ds, [vid], SnippetWeights({"rgb": {vid: np.ones(t)}}))
    with pytest.raises(DataError, match="not available"):
        video_descriptors(FeatureDataset(toy_dataset), [vid], streams=["depth"])
