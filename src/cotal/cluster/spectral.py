"""Spectral clustering of video descriptors into C pseudo action classes (docs/method.md §4, eqs. 5-6).

Embedding as scikit-learn's ``SpectralClustering(affinity='precomputed')`` (which the authors used): with the
affinity W (zero diagonal) and degrees d, the C eigenvectors of the normalised Laplacian
``L = I - D^-1/2 W D^-1/2`` with the smallest eigenvalues (= the largest of ``M = D^-1/2 W D^-1/2``), each
divided by ``sqrt(d)`` and sign-fixed (largest |entry| positive), first one kept; then k-means with
``n_init`` k-means++ restarts. Random draws mirror scikit-learn's: one ``check_random_state(random_state)``
gives the ARPACK start vector (N uniform draws in [-1, 1]) and then seeds k-means.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from cotal.cluster.config import Solver
from cotal.cluster.graph import dense_affinity, knn_affinity, knn_search, sampled_sigma
from cotal.cluster.signals import silhouette
from cotal.errors import ConfigError, CotalError, DataError

SOLVERS = get_args(Solver)
KNN_METHODS = ("auto", "exact", "approximate")

# Up to this many nodes the eigenproblem is solved exactly with LAPACK (dense); beyond, with ARPACK.
_LAPACK_MAX_N = 1000
# Above this many videos, k-means restarts run on a sample of this size (see _kmeans).
_KMEANS_SAMPLE = 20_000


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


class SpectralVideoClustering(ClusterMixin, BaseEstimator):
    """Spectral clustering with the Gaussian affinity of docs/method.md eq. (5); dense for small N, k-NN graph for
    large N.

    A scikit-learn estimator: ``__init__`` stores the parameters as given and ``fit`` validates them (so
    ``get_params``/``set_params``/``clone`` work); ``fit_predict`` comes from ``ClusterMixin``.

    Args:
        n_clusters: C, or ``"auto"`` to pick C in ``auto_range`` as the number of clusters whose clustering of
            the descriptors has the highest cosine silhouette (:func:`silhouette_clusters`; docs/clustering.md).
        solver: ``"dense"`` (all N^2 pairs, exactly eq. (5)), ``"sparse"`` (k-NN graph, sampled sigma) or
            ``"auto"``: dense while the N x N float64 affinity fits ``dense_max_bytes``.
        n_neighbors: k of the k-NN graph (sparse solver); clipped to N - 1.
        n_init: k-means restarts (the best inertia wins).
        random_state: seed of every random draw (eigensolver start, k-means, sigma pairs, k-NN training): a
            non-negative int, a ``numpy.random.RandomState`` or ``None`` (as scikit-learn's ``check_random_state``).
        auto_range: inclusive (min, max) C searched when ``n_clusters="auto"``; max is clipped to N // 3 (three
            videos per cluster on average).
        dense_max_bytes: memory budget of the dense affinity for ``solver="auto"`` (default 4 GiB: N <= 23,170).
        sigma_pairs: random pairs used to estimate sigma on the sparse path.
        knn: neighbour search of the sparse path: ``"exact"`` (faiss IndexFlatL2), ``"approximate"``
            (``cotal.cluster.knn.partition_knn``) or ``"auto"`` (exact while N*N*D <= 2.5e11).

    Attributes (after ``fit``):
        labels_: (N,) int64 cluster ids in [0, n_clusters_).
        n_clusters_: the C used.
        n_features_in_: D.
        affinity_sigma_: sigma of the Gaussian affinity.
        solver_: "dense" or "sparse" (the path that ran); ``knn_`` "exact"/"approximate" (sparse) or None.
        eigenvalues_: (K,) smallest normalised-Laplacian eigenvalues, ascending (K = C, or max C for auto).
        auto_scores_: for ``n_clusters="auto"``, the silhouette of each C tried (``{C: score}``); else None.
        embedding_: (N, C) spectral embedding that k-means clustered.
        n_connected_components_: connected components of the affinity graph (1 on the dense path).

    Example:
        >>> labels = SpectralVideoClustering(n_clusters=20).fit_predict(descriptors)  # doctest: +SKIP
    """

    def __init__(
        self,
        n_clusters: int | Literal["auto"] = 20,
        *,
        solver: Solver = "auto",
        n_neighbors: int = 30,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = 0,
        auto_range: tuple[int, int] = (2, 200),
        dense_max_bytes: int = 4 * 2**30,
        sigma_pairs: int = 50_000,
        knn: Literal["auto", "exact", "approximate"] = "auto",
    ) -> None:
        self.n_clusters = n_clusters
        self.solver = solver
        self.n_neighbors = n_neighbors
        self.n_init = n_init
        self.random_state = random_state
        self.auto_range = auto_range
        self.dense_max_bytes = dense_max_bytes
        self.sigma_pairs = sigma_pairs
        self.knn = knn

    # -- public API ---------------------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: None = None) -> SpectralVideoClustering:
        """Cluster the rows of ``X``.

        Args:
            X: (N, D) finite descriptors (float32 keeps float32 arithmetic for the distances).
            y: ignored (scikit-learn API).

        Returns:
            ``self`` with ``labels_`` and the other fitted attributes set.

        Raises:
            ConfigError: an invalid parameter.
            DataError: X is not a finite 2-D array, or N is too small for the requested C.
        """
        self._check_params()
        x = self._check_x(X)
        n = x.shape[0]
        k = self._num_eigenvectors(n)
        rs = check_random_state(self.random_state)
        # An int seeds every draw directly (the labels of a seed never change); otherwise one is drawn from rs.
        seed = self.random_state if _is_int(self.random_state) else int(rs.randint(np.iinfo(np.int32).max))
        self.solver_ = self._pick_solver(n)
        self.knn_ = None
        if self.solver_ == "dense":
            w, self.affinity_sigma_ = dense_affinity(x)
        else:
            x32 = np.ascontiguousarray(x, dtype=np.float32)
            self.affinity_sigma_ = sampled_sigma(x32, self.sigma_pairs, np.random.default_rng(seed))
            d2, idx, self.knn_ = knn_search(x32, min(self.n_neighbors, n - 1), method=self.knn, seed=seed)
            w = knn_affinity(d2, idx, self.affinity_sigma_)
        degree = np.asarray(w.sum(axis=1)).reshape(-1)
        if not (degree > 0).all():
            bad = int(np.flatnonzero(degree <= 0)[0])
            raise DataError(f"descriptor {bad} has zero affinity to every other one (isolated in the graph)")
        dd = np.sqrt(degree)
        v0 = rs.uniform(-1, 1, n)  # mirrors scikit-learn's draws: ARPACK start vector, then k-means seeds
        m = _normalise(w, dd)
        if sp.issparse(m):
            lam, vecs, self.n_connected_components_ = _top_eigenpairs_by_component(m, k, v0)
        else:
            (lam, vecs), self.n_connected_components_ = _top_eigenpairs(m, k, v0), 1
        del w, m
        self.eigenvalues_ = 1.0 - lam
        self.auto_scores_ = None
        c = self.n_clusters
        if c == "auto":
            candidates = auto_candidates(int(self.auto_range[0]), self._auto_hi(n))
            self.auto_scores_ = silhouette_clusters(x, lambda k: _embedding(vecs, dd, k), candidates, seed)
            c = max(self.auto_scores_, key=lambda k: (self.auto_scores_[k], -k))
        emb = _embedding(vecs, dd, c)
        self.n_clusters_ = int(c)
        self.embedding_ = emb
        self.labels_ = _kmeans(emb, c, self.n_init, rs)
        return self

    # -- helpers ------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Raise ConfigError naming the first invalid parameter."""
        if self.n_clusters != "auto" and not (_is_int(self.n_clusters) and self.n_clusters >= 1):
            raise ConfigError(f"n_clusters must be a positive integer or 'auto', got {self.n_clusters!r}")
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.knn not in KNN_METHODS:
            raise ConfigError(f"knn must be one of {', '.join(KNN_METHODS)}, got {self.knn!r}")
        for name in ("n_neighbors", "n_init", "dense_max_bytes", "sigma_pairs"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState) or (_is_int(rs) and rs >= 0)):
            raise ConfigError(f"random_state must be a non-negative integer, a RandomState or None, got {rs!r}")
        ar = self.auto_range
        if not (isinstance(ar, (tuple, list)) and len(ar) == 2 and all(_is_int(v) for v in ar) and 2 <= ar[0] <= ar[1]):
            raise ConfigError(f"auto_range must be (min, max) integers with 2 <= min <= max, got {ar!r}")

    def _check_x(self, X: np.ndarray) -> np.ndarray:
        """(N, D) C-contiguous float32/float64 X (copied only when needed); sets ``n_features_in_``."""
        # scikit-learn's conversion and checks (ragged, empty, complex) as one-line DataErrors; sparse or object
        # input stays scikit-learn's TypeError, as its estimator checks require
        try:
            if not sp.issparse(X) and np.ndim(X) != 2:  # np.ndim itself fails on ragged rows
                raise DataError(f"descriptors must be a non-empty (N, D) array, got shape {np.shape(X)}")
            x = validate_data(self, X, dtype=(np.float64, np.float32), order="C", ensure_all_finite=False)
        except CotalError:
            raise
        except ValueError as e:
            raise DataError(f"descriptors: {e}") from None
        if not np.isfinite(x).all():  # checked here to name the row
            raise DataError(f"descriptors contain NaN/Inf (first in row {int(np.argwhere(~np.isfinite(x))[0, 0])})")
        return x

    def _auto_hi(self, n: int) -> int:
        return min(int(self.auto_range[1]), n // 3)

    def _num_eigenvectors(self, n: int) -> int:
        if self.n_clusters == "auto":
            hi = self._auto_hi(n)
            if hi < self.auto_range[0]:
                raise DataError(f"n_clusters='auto' needs at least {3 * self.auto_range[0]} videos, got N={n}")
            return hi
        if self.n_clusters >= n:
            raise DataError(
                f"n_clusters={self.n_clusters} must be smaller than the number of videos, got {n} sample(s)"
            )
        return self.n_clusters

    def _pick_solver(self, n: int) -> str:
        if self.solver != "auto":
            return self.solver
        return "dense" if 8 * n * n <= self.dense_max_bytes else "sparse"


def _kmeans(emb: np.ndarray, c: int, n_init: int, rs: np.random.RandomState) -> np.ndarray:
    """k-means labels (N,) of the (N, C) embedding: ``n_init`` k-means++ restarts, best inertia.

    Above ``_KMEANS_SAMPLE`` rows the restarts run on a seeded sample of that many rows (k-means++ seeding
    dominates the cost: C passes over the data per restart) and the winner's centres start one Lloyd run on
    all rows.
    """
    n = emb.shape[0]
    if n <= _KMEANS_SAMPLE:
        return KMeans(n_clusters=c, n_init=n_init, random_state=rs).fit_predict(emb).astype(np.int64)
    sample = emb[np.sort(rs.choice(n, _KMEANS_SAMPLE, replace=False))]
    centres = KMeans(n_clusters=c, n_init=n_init, random_state=rs).fit(sample).cluster_centers_
    return KMeans(n_clusters=c, init=centres, n_init=1, random_state=rs).fit_predict(emb).astype(np.int64)


def _embedding(vecs: np.ndarray, dd: np.ndarray, k: int) -> np.ndarray:
    """(N, k) spectral embedding from the top eigenvectors: divided by sqrt(degree) and sign-fixed as scikit-learn."""
    emb = vecs[:, :k] / dd[:, None]  # float64: scikit-learn's k-means++ upcasts float32 slowly
    emb *= np.sign(emb[np.abs(emb).argmax(axis=0), np.arange(k)])
    return emb


def auto_candidates(lo: int, hi: int) -> list[int]:
    """The C tried by ``n_clusters="auto"``: every C up to 30, then steps of about 10 % up to ``hi``."""
    out = list(range(lo, min(hi, 30) + 1))
    while out and out[-1] < hi:
        out.append(min(hi, max(out[-1] + 1, round(out[-1] * 1.1))))
    return out


def silhouette_clusters(
    x: np.ndarray, embedding_of: Callable[[int], np.ndarray], candidates: Sequence[int], seed: int
) -> dict[int, float]:
    """Cosine silhouette of the descriptors ``x`` (N, D) under the spectral clustering into each candidate C.

    One k-means (3 restarts) of each C's embedding, scored by :func:`cotal.cluster.signals.silhouette` (the
    round signal, on a seeded sample of at most 4,000 descriptors). Returns ``{C: silhouette}``;
    ``n_clusters="auto"`` takes the C of the highest (the smaller C on a tie). The eigengap of eq. (5)'s wide
    kernel is flat, and a coarser split such as class families always wins it; the silhouette compares every C
    on the descriptors themselves.
    """
    scores = {}
    for k in candidates:
        labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(embedding_of(k))
        score = silhouette(x, labels, seed=seed)
        if score is not None:
            scores[k] = score
    if not scores:
        raise DataError("n_clusters='auto': every candidate C collapsed into one cluster")
    return scores


def _normalise(w: np.ndarray | sp.csr_matrix, dd: np.ndarray) -> np.ndarray | sp.csr_matrix:
    """``M = D^-1/2 W D^-1/2`` (in place for a dense W)."""
    inv = 1.0 / dd
    if sp.issparse(w):
        return sp.diags(inv) @ w @ sp.diags(inv)
    w *= inv[:, None]
    w *= inv[None, :]
    return w


def _top_eigenpairs(m: np.ndarray | sp.csr_matrix, k: int, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues of the symmetric M, descending, and their (N, k) eigenvectors.

    LAPACK for small N (exact); otherwise ARPACK on the largest algebraic eigenvalues of M, which are the
    smallest of ``I - M`` without the factorisation a shift-invert of the Laplacian would need.
    """
    n = m.shape[0]
    if n <= _LAPACK_MAX_N or k >= n - 1:
        dense = m.toarray() if sp.issparse(m) else m
        lam, vecs = scipy.linalg.eigh(dense, subset_by_index=[n - k, n - 1], check_finite=False)
    else:
        lam, vecs = eigsh(m, k=k, which="LA", v0=v0, ncv=min(n, max(2 * k + 1, 20)))
    order = np.argsort(-lam, kind="stable")
    return lam[order], vecs[:, order]


def _top_eigenpairs_by_component(m: sp.csr_matrix, k: int, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``_top_eigenpairs`` of a possibly disconnected sparse M, solved one connected component at a time.

    Each component contributes eigenvalue 1 (its degree-weighted indicator), so a graph with several
    components has a degenerate top eigenvalue that single-vector Lanczos cannot resolve. The spectrum of M
    is the union of its components' spectra, so the top k of the union (zero-padded eigenvectors) is exact.
    Ties (components beyond k) go to the larger components. A component's eigenpairs are computed lazily: a
    share of ``k - n_components + 1`` in proportion to its size (at least 2), and all of them only if all of
    those rank among the top k. Asking every component for ``k - n_components + 1`` pairs, which one of them
    might need, took 169 s of ARPACK at N = 200,000 (193 components, C = 200); this takes 5 s.

    Returns:
        ``(lam (k,), vecs (N, k), n_components)``.
    """
    n_comp, comp = connected_components(m, directed=False)
    if n_comp == 1:
        return *_top_eigenpairs(m, k, v0), 1
    members = np.split(np.argsort(comp, kind="stable"), np.cumsum(np.bincount(comp))[:-1])
    per = k - min(n_comp, k) + 1  # eigenvalue 1 of every other component fills the rest
    cap = [min(per, len(idx)) for idx in members]
    solved: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    # A start in proportion to the component's size: few Lanczos vectors converge slowly on a large component
    # whose top eigenvalues crowd near 1 (many overlapping clusters).
    grow = {c: min(cap[c], max(2, math.ceil(per * len(idx) / m.shape[0]))) for c, idx in enumerate(members)}
    while grow:
        for c, want in grow.items():
            idx = members[c]
            solved[c] = (
                (np.ones(1), np.ones((1, 1))) if len(idx) == 1 else _top_eigenpairs(m[idx][:, idx], want, v0[idx])
            )
        cand = [(float(lam[j]), len(members[c]), c, j) for c, (lam, _) in solved.items() for j in range(len(lam))]
        cand.sort(key=lambda t: (-round(t[0], 9), -t[1], t[2], t[3]))
        top = cand[:k]
        picked = np.bincount([t[2] for t in top], minlength=n_comp)
        # A component whose every computed pair made the top k may have more that would.
        grow = {c: cap[c] for c, (lam, _) in solved.items() if picked[c] == len(lam) < cap[c]}
    out = np.zeros((m.shape[0], k))
    for j, (_, _, c, i) in enumerate(top):
        out[members[c], j] = solved[c][1][:, i]
    return np.array([t[0] for t in top]), out, n_comp
