"""The partitioned approximate kNN graph (cotal.cluster.knn) and its recall against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.cluster.graph import knn_search
from cotal.cluster.knn import _split_large_cells, knn_recall, partition_knn
from tests.extras import needs_extra


def _mixture(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 3
    sizes = rng.multinomial(n, rng.dirichlet(np.full(clusters, 2.0)))  # uneven, like real classes
    return (np.repeat(centres, sizes, axis=0) + rng.normal(size=(n, d))).astype(np.float32)


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_partition_knn_matches_exact_search() -> None:
    x = _mixture(3000, 24, 12)
    d_exact, i_exact, _ = knn_search(x, 15, method="exact")
    d2, idx = partition_knn(x, 15, nprobe=6, seed=0)
    assert d2.shape == idx.shape == (3000, 15) and idx.dtype == np.int64 and d2.dtype == np.float64
    assert (idx >= 0).all() and (idx != np.arange(3000)[:, None]).all()  # found k, self excluded
    assert (np.diff(d2, axis=1) >= 0).all()
    brute = ((x[:, None, :] - x[idx]) ** 2).sum(-1)
    np.testing.assert_allclose(d2, brute, rtol=1e-4, atol=1e-4)  # full-space distances
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(i_exact, idx, strict=True)])
    assert recall >= 0.95
    assert knn_recall(x, idx, n_queries=500, seed=1) == pytest.approx(recall, abs=0.03)
    again = partition_knn(x, 15, nprobe=6, seed=0)
    np.testing.assert_array_equal(again[1], idx)  # deterministic


def test_knn_search_approximate_uses_the_partition() -> None:
    x = _mixture(2000, 16, 8, seed=3)
    d2, idx, used = knn_search(x, 10, method="approximate", nprobe=4, seed=2)
    ref = partition_knn(x, 10, nprobe=4, seed=2)
    assert used == "approximate"
    np.testing.assert_array_equal(idx, ref[1])
    np.testing.assert_array_equal(d2, ref[0])


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_knn_recall_counts_true_neighbours() -> None:
    x = _mixture(800, 8, 4, seed=5)
    _, exact, _ = knn_search(x, 10, method="exact")
    assert knn_recall(x, exact, n_queries=10_000) == 1.0  # every row, exact graph
    half = exact.copy()
    half[:, 5:] = -1  # half of each list missing
    assert knn_recall(x, half, n_queries=10_000) == pytest.approx(0.5)


def test_cells_with_fewer_candidates_than_k_leave_missing_entries() -> None:
    x = _mixture(400, 4, 40, seed=7)
    d2, idx = partition_knn(x, 30, nlist=40, nprobe=1)  # ~10 rows per cell, searched alone
    assert (idx == -1).any()
    assert np.isinf(d2[idx == -1]).all() and np.isfinite(d2[idx >= 0]).all()
    assert (idx != np.arange(400)[:, None]).all()


def test_large_cells_are_split() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 6)).astype(np.float32)
    cell = np.zeros(1000, dtype=np.int64)
    cell[900:] = 1  # one cell of 900 rows, one of 100
    centroids = np.stack([x[:900].mean(0), x[900:].mean(0)]).astype(np.float32)
    new, cell2 = _split_large_cells(x, lambda r: r, centroids, cell, 200, rng)
    sizes = np.bincount(cell2)
    assert len(new) == len(sizes) >= 10 and sizes.sum() == 1000
    np.testing.assert_array_equal(cell2[900:], 1)  # small cells untouched
    assert sizes.max() < 900
