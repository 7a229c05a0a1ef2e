"""The Z x K + fill batch sampler."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.errors import ConfigError
from cotal.train.sampler import ClusterBatchSampler, label_targets


def _check_structure(batch, labels: list[tuple[int, ...]], z: int, k: int) -> None:
    groups, idx = batch.groups, batch.indices
    assert len(set(idx.tolist())) == len(idx)  # no video twice in a batch
    head = groups[groups >= 0]
    assert np.all(groups[: len(head)] >= 0) and np.all(groups[len(head) :] == -1)  # pairs first, then fill
    clusters, counts = np.unique(head, return_counts=True)
    assert len(clusters) <= z and np.all((counts >= 2) & (counts <= k))
    for v, g in zip(idx, groups, strict=True):
        if g >= 0:
            assert g in labels[v]


def test_batches_have_z_clusters_of_k_videos_then_fill() -> None:
    labels = np.random.default_rng(0).integers(0, 10, size=100)
    sampler = ClusterBatchSampler(labels, batch_size=32, clusters_per_batch=3, per_cluster=2, seed=0)
    assert len(sampler) == 4
    batches = list(sampler)
    assert len(batches) == 4
    for b in batches:
        assert len(b.indices) == 32 and (b.groups >= 0).sum() == 6
        _check_structure(b, [(int(v),) for v in labels], 3, 2)
    # The fill walks a permutation: one epoch covers most videos.
    assert len(np.unique(np.concatenate([b.indices for b in batches]))) >= 90


def test_sampler_is_deterministic_per_seed() -> None:
    labels = np.arange(40) % 7
    run = [(b.indices.tolist(), b.groups.tolist()) for b in ClusterBatchSampler(labels, batch_size=8, seed=3)]
    again = [(b.indices.tolist(), b.groups.tolist()) for b in ClusterBatchSampler(labels, batch_size=8, seed=3)]
    other = [(b.indices.tolist(), b.groups.tolist()) for b in ClusterBatchSampler(labels, batch_size=8, seed=4)]
    assert run == again and run != other
    sampler = ClusterBatchSampler(labels, batch_size=8, rng=np.random.default_rng(3))
    assert [(b.indices.tolist(), b.groups.tolist()) for b in sampler] == run
    assert [(b.indices.tolist(), b.groups.tolist()) for b in sampler] != run  # the next epoch differs


def test_singleton_clusters_are_never_drawn_for_pairs() -> None:
    labels = [0, 0, 1, 2, 3, 3, 3, 4]  # clusters 1, 2, 4 have one video
    sampler = ClusterBatchSampler(labels, batch_size=6, clusters_per_batch=3, per_cluster=2, seed=0)
    for _ in range(50):
        b = sampler.sample()
        assert set(b.groups[b.groups >= 0].tolist()) == {0, 3}  # only 2 pairable clusters exist
        _check_structure(b, [(v,) for v in labels], 3, 2)
    only_singletons = ClusterBatchSampler([0, 1, 2], batch_size=3, clusters_per_batch=1, seed=0).sample()
    assert np.all(only_singletons.groups == -1) and sorted(only_singletons.indices.tolist()) == [0, 1, 2]


def test_multi_label_videos_can_be_sampled_for_any_of_their_classes() -> None:
    labels = [(0, 1), (0, 1), (1,), (0,), (2,), (2,)]
    sampler = ClusterBatchSampler(labels, batch_size=6, clusters_per_batch=3, per_cluster=2, seed=0)
    seen = {0: set(), 1: set()}
    for _ in range(200):
        b = sampler.sample()
        _check_structure(b, [tuple(v) for v in labels], 3, 2)
        for v, g in zip(b.indices, b.groups, strict=True):
            if g in seen:
                seen[g].add(int(v))
    assert seen[0] == {0, 1, 3} and seen[1] == {0, 1, 2}


def test_small_datasets_cap_the_batch_at_n_videos() -> None:
    sampler = ClusterBatchSampler([0, 0, 0, 1, 1], batch_size=32, clusters_per_batch=3, per_cluster=2, seed=0)
    assert len(sampler) == 1
    b = sampler.sample()
    assert sorted(b.indices.tolist()) == [0, 1, 2, 3, 4]
    _check_structure(b, [(0,), (0,), (0,), (1,), (1,)], 3, 2)


def test_label_targets_split_mass_evenly() -> None:
    t = label_targets([(0, 2), 1, ()], num_classes=3)
    assert np.allclose(t, [[0.5, 0, 0.5], [0, 1, 0], [0, 0, 0]])


def test_invalid_sampler_settings_raise() -> None:
    with pytest.raises(ConfigError, match="per_cluster"):
        ClusterBatchSampler([0, 0], per_cluster=1)
    with pytest.raises(ConfigError, match="batch_size"):
        ClusterBatchSampler([0, 0], batch_size=4, clusters_per_batch=3, per_cluster=2)
