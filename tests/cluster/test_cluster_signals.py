"""Round-0 descriptors and label-free round signals."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.cluster import signals
from cotal.cluster.descriptors import distinctiveness, round0_weights, video_descriptors
from cotal.data import FeatureDataset
from cotal.errors import ConfigError
from tests.toy_data import write_toy_dataset


@pytest.fixture
def ds(tmp_path):
    return FeatureDataset(write_toy_dataset(tmp_path / "d", num_videos=12))


def test_distinctive_weights_pick_the_action_snippets(ds):
    weights = round0_weights(ds, ds.train_ids, pooling="distinctive", fraction=0.3)
    hits = []
    for v in ds.train_ids:
        w = weights.of("rgb", v)
        np.testing.assert_array_equal(w, weights.of("flow", v))  # one weighting for every stream
        mask = ds.timing.segment_mask(ds.annotation(v).segments, ds.num_snippets(v)) > 0.5
        assert w.shape == (ds.num_snippets(v),) and w.sum() == np.ceil(0.3 * len(w))
        hits.append(mask[w > 0].mean())
    assert np.mean(hits) > 0.8  # the toy actions sit far from each video's median snippet
    assert round0_weights(ds, ds.train_ids, pooling="mean") is None
    with pytest.raises(ConfigError, match="cluster.pooling"):
        round0_weights(ds, ds.train_ids, pooling="max")


def test_centering_removes_a_per_video_constant(ds):
    plain = video_descriptors(ds, ds.train_ids, center=True)
    shifted = FeatureDataset(ds.root)
    shifted.features = lambda v, s: np.asarray(ds.features(v, s)) + 100.0 * (hash(v) % 7)  # noqa: ARG005
    np.testing.assert_allclose(video_descriptors(shifted, ds.train_ids, center=True), plain, atol=1e-4)


def test_silhouette_and_margin():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(10, 3)) * 0.1 + [5, 0, 0], rng.normal(size=(10, 3)) * 0.1 + [0, 5, 0]])
    labels = np.repeat([0, 1], 10)
    assert signals.silhouette(x, labels) > 0.9
    assert signals.silhouette(x, rng.permutation(labels)) < 0.2
    assert signals.silhouette(x, np.zeros(20, int)) is None
    margin = signals.embedding_margin(x, labels)
    assert margin.shape == (20,) and (margin > 0.8).all()
    wrong = labels.copy()
    wrong[0] = 1
    assert signals.embedding_margin(x, wrong)[0] < 0


def test_attention_guard_sign():
    d = {"a": np.array([0.0, 0.1, 5.0, 6.0, 0.2]), "b": np.array([1.0, 0.0, 0.0, 4.0])}
    good = {"a": np.array([0.05, 0.05, 0.4, 0.45, 0.05]), "b": np.array([0.2, 0.1, 0.1, 0.6])}
    bad = {k: 1.0 / v / (1.0 / v).sum() for k, v in good.items()}
    assert signals.attention_distinctiveness(good, d) > 0.5
    assert signals.attention_distinctiveness(bad, d) < -0.5
    assert signals.rank_correlation(np.ones(4), np.arange(4.0)) == 0.0
    mask = np.array([0, 0, 1, 1, 0.0])
    assert signals.attention_ratio(good["a"], mask) > 5
    assert signals.attention_ratio(good["a"], np.zeros(5)) is None
    assert distinctiveness(np.array([[0.0], [0.0], [3.0]])).tolist() == [0.0, 0.0, 3.0]
