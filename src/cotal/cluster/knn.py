"""All-pairs k-nearest-neighbour graphs of large descriptor sets: a partitioned exact search, and its recall.

``partition_knn`` is what the sparse spectral path runs beyond the exact threshold (docs/benchmarks.md measures its
time and recall at 10^5-10^6 videos): a coarse k-means partition into ``nlist`` cells (trained on a sample, oversized
cells split again), then, cell by cell, an exact brute-force search of the cell's points among the points of
its ``nprobe`` nearest cells (one BLAS matrix product per block of queries). Unlike faiss' inverted-file
index, which scans candidate lists one vector at a time (well below a GEMM's rate on a CPU), every distance
comes out of a GEMM. Neighbour distances are exact in the original space (float32, as faiss' flat index).

``knn_recall`` measures how many of the true k nearest neighbours a graph holds, on a random sample of query
rows searched exhaustively against all N.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp

# One (queries, candidates) float32 distance block stays under this many bytes.
_BLOCK_BYTES = 64 * 2**20
# Rows projected and assigned per chunk: bounds the projected temporary.
_CHUNK = 65_536
# Coarse k-means training points per cell.
_TRAIN_PER_CELL = 32


def default_nlist(n: int) -> int:
    """Number of coarse cells for N points: sqrt(N), and at least 39 points per cell."""
    return max(1, min(int(math.sqrt(n)), n // 39))


def partition_knn(
    x: np.ndarray,
    n_neighbors: int,
    *,
    nlist: int | None = None,
    nprobe: int = 8,
    pca_dim: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest other rows of every row: exact search within each coarse cell's nearest cells.

    Cost: about ``N * nprobe * (N / nlist) * D`` multiply-adds in float32 GEMMs, memory O(N * k) plus one
    cell's candidate block (``nprobe * N / nlist`` rows). Deterministic for a given seed and thread count.

    Args:
        x: (N, D) float32 C-contiguous descriptors.
        n_neighbors: k, at most N - 1.
        nlist: coarse cells (default ``default_nlist(N)``).
        nprobe: cells searched per cell, its own included (the nearest by centroid distance).
        pca_dim: dimension in which the coarse partition is trained and assigned (only the partition;
            the search itself is in the full space). No projection when D <= pca_dim.
        seed: seed of the PCA sample and the k-means training sample and initialisation.

    Returns:
        ``(d2, idx)``: (N, k) float64 squared L2 distances, ascending, and (N, k) int64 neighbour indices;
        -1 / inf where a cell's candidates number fewer than k.
    """
    n, d = x.shape
    k = n_neighbors
    nlist = default_nlist(n) if nlist is None else nlist
    rng = np.random.default_rng(seed)
    axes = _pca_axes(x, pca_dim, rng) if pca_dim is not None and d > pca_dim else None

    def coarse(rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rows @ axes if axes is not None else rows, dtype=np.float32)

    centroids = _lloyd(coarse(x[np.sort(rng.choice(n, min(n, _TRAIN_PER_CELL * nlist), replace=False))]), nlist, rng)
    c_sq = np.einsum("ij,ij->i", centroids, centroids)
    cell = np.concatenate([_assign(coarse(x[i : i + _CHUNK]), centroids, c_sq) for i in range(0, n, _CHUNK)])
    centroids, cell = _split_large_cells(x, coarse, centroids, cell, 2 * n // nlist, rng)
    nlist, c_sq = len(centroids), np.einsum("ij,ij->i", centroids, centroids)
    # The nprobe cells nearest to each cell's centroid, its own first.
    probe = _nearest(centroids, centroids, c_sq, min(nprobe, nlist) - 1, self_col=np.arange(nlist))[1]
    order = np.argsort(cell, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(cell, minlength=nlist))[:-1])

    d2 = np.full((n, k), np.inf)
    idx = np.full((n, k), -1, dtype=np.int64)
    sq = np.einsum("ij,ij->i", x, x)
    for c, query in enumerate(members):
        if len(query) == 0:
            continue
        cand = np.concatenate([query, *(members[j] for j in probe[c] if j >= 0)])  # own cell first
        base, base_sq = x[cand], sq[cand]
        step = max(1, _BLOCK_BYTES // (4 * len(cand)))
        for q0 in range(0, len(query), step):
            rows = query[q0 : q0 + step]
            dist, local = _nearest(x[rows], base, base_sq, k, self_col=np.arange(q0, q0 + len(rows)))
            d2[rows] = np.where(local >= 0, np.maximum(dist + sq[rows, None], 0.0), np.inf)
            idx[rows] = np.where(local >= 0, cand[local], -1)
    return d2, idx


def knn_recall(x: np.ndarray, idx: np.ndarray, *, n_queries: int = 1000, seed: int = 0) -> float:
    """Recall@k of a neighbour graph against the exact k nearest neighbours, on a random sample of rows.

    Args:
        x: (N, D) float32 descriptors the graph was built on.
        idx: (N, k) neighbour indices (-1 = missing), self excluded.
        n_queries: sampled query rows (all rows when N is smaller), each searched exhaustively against all N.
        seed: seed of the sample.

    Returns:
        The mean over sampled rows of |graph neighbours & exact k nearest| / k, in [0, 1].
    """
    n, k = idx.shape
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n, n_queries), replace=False))
    xq = x[rows]
    step = max(1, _BLOCK_BYTES // (4 * len(rows)))
    best_d, best_i = [], []  # the k nearest of every base chunk, then the k nearest of those
    for b0 in range(0, n, step):
        base = x[b0 : b0 + step]
        self_col = np.where((rows >= b0) & (rows < b0 + len(base)), rows - b0, -1)
        dist, local = _nearest(xq, base, np.einsum("ij,ij->i", base, base), k, self_col=self_col)
        best_d.append(dist)
        best_i.append(np.where(local >= 0, local + b0, -1))
    dist, cols = np.concatenate(best_d, axis=1), np.concatenate(best_i, axis=1)
    exact = np.take_along_axis(cols, np.argsort(dist, axis=1, kind="stable")[:, :k], axis=1)
    hits = sum(np.intersect1d(t[t >= 0], f[f >= 0]).size for t, f in zip(exact, idx[rows], strict=True))
    return hits / (len(rows) * k)


def _nearest(
    xq: np.ndarray, base: np.ndarray, base_sq: np.ndarray, k: int, *, self_col: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``base`` to each query row, by one float32 GEMM.

    Args:
        xq: (q, D) queries; base: (c, D) candidates; base_sq: (c,) their squared norms.
        k: neighbours kept.
        self_col: (q,) column of each query in ``base`` (excluded), or -1.

    Returns:
        ``(dist, local)``: (q, k) ``|b|^2 - 2 q.b`` ascending (add ``|q|^2`` for the squared distance; inf
        where missing) and (q, k) int64 columns of ``base`` (-1 where missing).
    """
    g = xq @ base.T
    g *= -2.0
    g += base_sq[None, :]
    has_self = self_col >= 0
    g[np.flatnonzero(has_self), self_col[has_self]] = np.inf
    c = base.shape[0]
    m = min(k, c)
    part = np.argpartition(g, m - 1, axis=1)[:, :m] if m < c else np.broadcast_to(np.arange(c), g.shape)
    dist = np.take_along_axis(g, part, axis=1)
    order = np.argsort(dist, axis=1, kind="stable")
    out_d = np.full((len(xq), k), np.inf, dtype=np.float64)
    out_i = np.full((len(xq), k), -1, dtype=np.int64)
    out_d[:, :m] = np.take_along_axis(dist, order, axis=1)
    out_i[:, :m] = np.take_along_axis(part, order, axis=1)
    out_i[~np.isfinite(out_d)] = -1
    return out_d, out_i


def _lloyd(x: np.ndarray, n_centroids: int, rng: np.random.Generator, n_iter: int = 10) -> np.ndarray:
    """(n_centroids, D) float32 k-means centres of the rows of ``x``: random rows, then Lloyd iterations.

    A cell that empties keeps its previous centre. Assignment is one GEMM per block (faiss' own k-means
    runs its BLAS several times slower than numpy's here).
    """
    centroids = x[np.sort(rng.choice(len(x), n_centroids, replace=False))].copy()
    for _ in range(n_iter):
        cell = _assign(x, centroids, np.einsum("ij,ij->i", centroids, centroids))
        counts = np.bincount(cell, minlength=n_centroids)
        ones = np.ones(len(x), dtype=np.float32)
        sums = sp.csr_matrix((ones, (cell, np.arange(len(x)))), shape=(n_centroids, len(x))) @ x
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids


def _split_large_cells(
    x: np.ndarray,
    coarse: Callable[[np.ndarray], np.ndarray],
    centroids: np.ndarray,
    cell: np.ndarray,
    cap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Split every cell holding more than ``cap`` rows by a k-means of its own rows into cells of ~cap / 2.

    A k-means on clustered data can leave a few cells with many times the mean size (several clusters under
    one centre); the search costs a cell's size times its candidates', so those cells would dominate it.

    Returns:
        ``(centroids, cell)``: the centres with each split cell's replaced and the new ones appended, and the
        (N,) cell of every row.
    """
    sizes = np.bincount(cell, minlength=len(centroids))
    parts, cell = [centroids], cell.copy()
    n_cells = len(centroids)
    for c in np.flatnonzero(sizes > cap):
        rows = np.flatnonzero(cell == c)
        pts = coarse(x[rows])
        sub = _lloyd(pts, math.ceil(2 * len(rows) / cap), rng)
        local = _assign(pts, sub, np.einsum("ij,ij->i", sub, sub))
        centroids[c] = sub[0]
        parts.append(sub[1:])
        cell[rows] = np.where(local == 0, c, n_cells + local - 1)
        n_cells += len(sub) - 1
    return np.concatenate(parts), cell


def _assign(x: np.ndarray, centroids: np.ndarray, c_sq: np.ndarray) -> np.ndarray:
    """(N,) int64 index of the nearest centroid of every row of ``x``."""
    step = max(1, _BLOCK_BYTES // (4 * len(centroids)))
    out = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), step):
        g = x[i : i + step] @ centroids.T
        g *= -2.0
        g += c_sq[None, :]
        out[i : i + step] = g.argmin(axis=1)
    return out


def _pca_axes(x: np.ndarray, dim: int, rng: np.random.Generator, sample: int = 5000) -> np.ndarray:
    """(D, dim) float32 top principal axes of a random sample of rows (centring is irrelevant to L2 distances)."""
    rows = x[np.sort(rng.choice(x.shape[0], min(x.shape[0], sample), replace=False))].astype(np.float64)
    rows -= rows.mean(axis=0)
    d = x.shape[1]
    _, axes = scipy.linalg.eigh(rows.T @ rows, subset_by_index=[d - dim, d - 1], check_finite=False)
    return axes.astype(np.float32)
