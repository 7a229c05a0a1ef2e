"""Gaussian affinity graphs over video descriptors: dense (all pairs) and sparse (k nearest neighbours).

Both use ``w_ij = exp(-||f_i - f_j||^2 / (2 sigma^2))`` with sigma the mean pairwise distance (docs/method.md eq. 5).
The diagonal (self-affinity, always 1) is stored as 0: the normalised Laplacian ignores self-loops, as does
scikit-learn's ``SpectralClustering(affinity='precomputed')`` the authors used.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cotal.cluster.knn import partition_knn
from cotal.errors import DataError
from cotal.utils.deps import require

# Row blocks are sized so that one (block, N) float64 temporary stays under this many bytes.
_BLOCK_BYTES = 64 * 2**20


def _row_block(n: int) -> int:
    return max(1, min(n, _BLOCK_BYTES // (8 * max(n, 1))))


def dense_affinity(x: np.ndarray) -> tuple[np.ndarray, float]:
    """All-pairs Gaussian affinity with sigma = mean of all N^2 pairwise distances (zero diagonal included).

    Args:
        x: (N, D) float32/float64 descriptors.

    Returns:
        ``(W, sigma)``: W (N, N) float64 symmetric with a zero diagonal; peak memory is one N x N float64.

    Raises:
        DataError: all descriptors are identical (sigma = 0).
    """
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
    w = np.empty((n, n), dtype=np.float64)
    dist_sum = 0.0
    step = _row_block(n)
    for i0 in range(0, n, step):
        blk = w[i0 : i0 + step]
        blk[...] = x[i0 : i0 + step] @ x.T
        blk *= -2.0
        blk += sq[i0 : i0 + step, None]
        blk += sq[None, :]
        np.maximum(blk, 0.0, out=blk)  # rounding can leave tiny negatives
        dist_sum += float(np.sqrt(blk).sum())
    sigma = dist_sum / float(n) ** 2
    if not sigma > 0:
        raise DataError("all descriptors are identical: the affinity bandwidth sigma is 0")
    scale = -1.0 / (2.0 * sigma**2)
    for i0 in range(0, n, step):
        blk = w[i0 : i0 + step]
        blk *= scale
        np.exp(blk, out=blk)
    np.fill_diagonal(w, 0.0)
    return w, sigma


def sampled_sigma(x: np.ndarray, n_pairs: int, rng: np.random.Generator) -> float:
    """Estimate the mean pairwise distance over all N^2 ordered pairs from ``n_pairs`` uniform random pairs.

    Pairs (i, j) are drawn independently and uniformly from {0..N-1}^2, so i = j pairs (distance 0) occur
    with probability 1/N, exactly as in the dense definition: the estimate is unbiased.

    Args:
        x: (N, D) descriptors.
        n_pairs: number of sampled pairs.
        rng: generator for the pair indices.

    Returns:
        The estimated sigma (> 0).
    """
    n = x.shape[0]
    idx = rng.integers(0, n, size=(n_pairs, 2))
    total = 0.0
    chunk = max(1, _BLOCK_BYTES // (4 * x.shape[1]))
    for p0 in range(0, n_pairs, chunk):
        diff = x[idx[p0 : p0 + chunk, 0]] - x[idx[p0 : p0 + chunk, 1]]
        total += float(np.sqrt(np.einsum("ij,ij->i", diff, diff), dtype=np.float64).sum())
    sigma = total / n_pairs
    if not sigma > 0:
        raise DataError("all sampled descriptor pairs are identical: the affinity bandwidth sigma is 0")
    return sigma


def knn_search(
    x: np.ndarray,
    n_neighbors: int,
    *,
    method: str = "auto",
    exact_max_cost: float = 2.5e11,
    pca_dim: int | None = None,
    nprobe: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``n_neighbors`` nearest other descriptors of every descriptor (L2).

    ``method="auto"`` uses the exact faiss ``IndexFlatL2`` while ``N * N * D <= exact_max_cost`` (its cost in
    multiply-adds; the default keeps 10k x 2048 exact) and otherwise ``cotal.cluster.knn.partition_knn``: a
    seeded k-means partition into ~sqrt(N) cells, each cell's rows searched exactly (one GEMM) among the rows
    of its ``nprobe`` nearest cells. Deterministic; distances are exact in the original space either way.

    Args:
        x: (N, D) float32 C-contiguous descriptors.
        n_neighbors: k, at most N - 1.
        method: "auto", "exact" or "approximate".
        exact_max_cost: threshold on N*N*D for ``"auto"``.
        pca_dim: train and assign the approximate path's partition in a PCA projection to this many
            dimensions (None: the full space; only the partition, never the distances).
        nprobe: cells searched per cell, its own included (approximate path).
        seed: seed of the partition's samples.

    Returns:
        ``(d2, idx, used)``: (N, k) squared L2 distances (float64, ascending) and (N, k) int64 neighbour
        indices, -1 (distance inf) where the approximate search found fewer than k; ``used`` is "exact" or
        "approximate".
    """
    n, d = x.shape
    k = n_neighbors
    used = method if method != "auto" else ("exact" if float(n) * n * d <= exact_max_cost else "approximate")
    if used == "approximate":
        d2, idx = partition_knn(x, k, nprobe=nprobe, pca_dim=pca_dim, seed=seed)
        return d2, idx, used
    faiss = require("faiss", "the sparse k-NN graph (large video sets)")
    index = faiss.IndexFlatL2(d)
    index.add(x)
    dist, idx = index.search(x, k + 1)
    rows = np.arange(n)[:, None]
    valid = (idx >= 0) & (idx != rows)
    valid &= np.cumsum(valid, axis=1) <= k  # drop self, or the farthest when self was not returned
    order = np.argsort(~valid, axis=1, kind="stable")[:, :k]  # valid entries first, in distance order
    idx = np.take_along_axis(idx, order, axis=1).astype(np.int64)
    keep = np.take_along_axis(valid, order, axis=1)
    idx[~keep] = -1
    d2 = np.maximum(np.take_along_axis(dist, order, axis=1).astype(np.float64), 0.0)
    d2[~keep] = np.inf
    return d2, idx, used


def knn_affinity(d2: np.ndarray, idx: np.ndarray, sigma: float) -> sp.csr_matrix:
    """Symmetric sparse Gaussian affinity on a k-nearest-neighbour graph.

    Args:
        d2: (N, k) squared distances (inf where missing).
        idx: (N, k) neighbour indices (-1 where missing).
        sigma: bandwidth.

    Returns:
        (N, N) CSR float64: ``w_ij = exp(-d_ij^2 / (2 sigma^2))`` on every pair where j is among the k
        neighbours of i or i among those of j (union graph, so ``W = max(W, W^T)``); zero diagonal.
    """
    n = idx.shape[0]
    keep = idx >= 0
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)[keep]
    vals = np.exp(-d2[keep] / (2.0 * sigma**2))
    a = sp.csr_matrix((vals, (rows, idx[keep])), shape=(n, n))
    return a.maximum(a.T).tocsr()
