"""Padding, cropping and length bucketing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cotal.errors import ConfigError, DataError
from cotal.model import CoAttentionModel, ModelConfig
from cotal.train.batching import collate, crop_indices, forward_bucketed, plan_buckets


def test_collate_pads_with_zeros_and_builds_the_mask() -> None:
    seqs = [np.ones((3, 2), dtype=np.float32), torch.full((5, 2), 2.0), np.full((1, 2), 3.0)]
    x, mask = collate(seqs)
    assert x.shape == (3, 5, 2) and x.dtype == torch.float32
    assert mask.sum(1).tolist() == [3, 5, 1]
    assert torch.all(x[~mask] == 0) and torch.all(x[0, :3] == 1) and torch.all(x[2, 0] == 3)
    with pytest.raises(DataError, match="sequence 1"):
        collate([np.ones((3, 2)), np.ones((3, 4))])
    with pytest.raises(DataError, match="sequence 0"):
        collate([np.ones((0, 2))])


def test_crop_keeps_short_videos_and_shortens_long_ones() -> None:
    rng = np.random.default_rng(0)
    assert np.array_equal(crop_indices(20, 30, rng), np.arange(20))
    assert np.array_equal(crop_indices(20, None, rng), np.arange(20))
    for length in (31, 100, 1000):
        idx = crop_indices(length, 30, rng)
        assert len(idx) == 30 and np.all(np.diff(idx) == 1) and idx[0] >= 0 and idx[-1] < length
    starts = {int(crop_indices(100, 30, rng)[0]) for _ in range(50)}
    assert len(starts) > 1  # random
    with pytest.raises(ConfigError, match="max_len"):
        crop_indices(10, 0, rng)


def test_plan_buckets_is_optimal_and_covers_the_batch() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 751, size=32)
    chunks = plan_buckets(lengths, chunk_cost=64)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(32))
    padded = sum(len(c) * lengths[c].max() for c in chunks)
    assert padded < 0.8 * 32 * lengths.max()  # much less padding than one padded batch
    # Exact optimum, checked by brute force on a small case.
    small = np.array([5, 9, 30, 31, 70])
    cost = sum(len(c) * small[c].max() + 20 for c in plan_buckets(small, chunk_cost=20))
    best = np.inf
    for mask in range(16):  # cut after sorted position i when bit i is set
        cuts = [i + 1 for i in range(4) if mask >> i & 1]
        parts = np.split(np.sort(small), cuts)
        best = min(best, sum(len(p) * p.max() + 20 for p in parts))
    assert cost == best
    assert len(plan_buckets(lengths, chunk_cost=1e9)) == 1
    assert len(plan_buckets(lengths, chunk_cost=0, max_chunks=3)) <= 3


def test_forward_bucketed_equals_one_padded_batch() -> None:
    torch.manual_seed(0)
    model = CoAttentionModel(6, 3, ModelConfig(base_dim=8)).eval()
    seqs = [torch.randn(t, 6) for t in (30, 3, 17, 4, 29)]
    ref = model(*collate(seqs))
    out, mask = forward_bucketed(model, seqs, chunk_cost=1.0)
    assert torch.equal(mask, collate(seqs)[1])
    for name in ("cas", "attention", "x_cs", "x_ca", "logits"):
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), atol=1e-5, rtol=1e-5, msg=name)
