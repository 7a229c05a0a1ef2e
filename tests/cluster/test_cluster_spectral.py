"""Spectral clustering: the affinity of docs/method.md eq. (5), agreement with scikit-learn, determinism, sparse
path, auto C, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.cluster import SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from cotal.cluster import SpectralVideoClustering
from cotal.cluster.graph import dense_affinity, knn_search, sampled_sigma
from cotal.cluster.spectral import auto_candidates
from cotal.errors import ConfigError, DataError
from tests.extras import needs_extra


def mixture(n: int, c: int, d: int, *, spread: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm anisotropic Gaussian mixture: uneven sizes, per-cluster per-axis scales; (N, d), (N,) labels."""
    rng = np.random.default_rng(seed)
    y = rng.choice(c, size=n, p=rng.dirichlet(np.full(c, 5.0)))
    centres = rng.normal(size=(c, d))
    scales = rng.uniform(0.2, 1.0, size=(c, d)) * spread
    x = centres[y] + rng.normal(size=(n, d)) * scales[y]
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


def test_dense_affinity_matches_spec_formula() -> None:
    x, _ = mixture(60, 3, 5)
    w, sigma = dense_affinity(x)
    dist = cdist(x, x)
    assert sigma == pytest.approx(dist.mean(), rel=1e-10)  # mean over all N^2 pairs, diagonal zeros included
    expected = np.exp(-(dist**2) / (2 * sigma**2))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(w, expected, atol=1e-10)


def test_sampled_sigma_estimates_the_mean_distance() -> None:
    x, _ = mixture(500, 4, 8)
    exact = cdist(x, x).mean()
    est = sampled_sigma(x.astype(np.float32), 50_000, np.random.default_rng(0))
    assert est == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize(("n", "c", "spread"), [(300, 4, 1.2), (1200, 6, 0.6)])  # LAPACK and ARPACK eigensolvers
def test_agrees_with_sklearn_on_the_same_affinity(n: int, c: int, spread: float) -> None:
    x, y = mixture(n, c, 12, spread=spread, seed=1)
    ours = SpectralVideoClustering(n_clusters=c, solver="dense").fit(x)
    w, _ = dense_affinity(x)
    ref = SpectralClustering(c, affinity="precomputed", random_state=0).fit(w).labels_
    assert adjusted_rand_score(ref, ours.labels_) >= 0.99
    assert 0.5 < adjusted_rand_score(y, ours.labels_) < 1.0  # realistic: clustered, not trivially separable
    assert ours.solver_ == "dense" and ours.n_clusters_ == c and set(ours.labels_) == set(range(c))


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_deterministic_for_a_seed() -> None:
    x, _ = mixture(400, 5, 10, spread=1.0)
    a = SpectralVideoClustering(n_clusters=5, random_state=3).fit(x)
    b = SpectralVideoClustering(n_clusters=5, random_state=3).fit(x)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    s1 = SpectralVideoClustering(n_clusters=5, solver="sparse", random_state=3).fit(x)
    s2 = SpectralVideoClustering(n_clusters=5, solver="sparse", random_state=3).fit(x)
    np.testing.assert_array_equal(s1.labels_, s2.labels_)


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_sparse_agrees_with_dense() -> None:
    x, _ = mixture(2000, 8, 16)
    dense = SpectralVideoClustering(n_clusters=8, solver="dense").fit(x)
    sparse = SpectralVideoClustering(n_clusters=8, solver="sparse").fit(x)
    assert (dense.solver_, sparse.solver_, sparse.knn_) == ("dense", "sparse", "exact")
    assert sparse.affinity_sigma_ == pytest.approx(dense.affinity_sigma_, rel=0.02)
    assert adjusted_rand_score(dense.labels_, sparse.labels_) >= 0.9


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_auto_solver_follows_the_memory_budget() -> None:
    x, _ = mixture(200, 3, 6)
    assert SpectralVideoClustering(n_clusters=3).fit(x).solver_ == "dense"
    assert SpectralVideoClustering(n_clusters=3, dense_max_bytes=8 * 199 * 199).fit(x).solver_ == "sparse"


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_sparse_solves_disconnected_graphs_per_component() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [40, 60, 80, 100])
    x = rng.normal(size=(4, 8))[y] * 10 + rng.normal(size=(len(y), 8)) * 0.1
    model = SpectralVideoClustering(n_clusters=4, solver="sparse", n_neighbors=5).fit(x)
    assert model.n_connected_components_ == 4
    assert adjusted_rand_score(y, model.labels_) == 1.0


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_approximate_knn_finds_the_neighbours() -> None:
    low, _ = mixture(3000, 10, 16)  # intrinsically 16-d, embedded in 64-d: the 32-d PCA keeps what matters
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 16)))[0]
    x = (low @ basis.T).astype(np.float32)
    d_exact, i_exact, used_exact = knn_search(x, 10, method="exact")
    d_apx, i_apx, used_apx = knn_search(x, 10, method="approximate", pca_dim=32)
    assert (used_exact, used_apx) == ("exact", "approximate")
    assert (i_exact != np.arange(3000)[:, None]).all()  # self excluded
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i_exact, i_apx, strict=True)])
    assert recall >= 0.8
    found = i_apx >= 0
    exact_d2 = ((x[:, None, :] - x[np.where(found, i_apx, 0)]) ** 2).sum(-1)
    np.testing.assert_allclose(d_apx[found], exact_d2[found], rtol=1e-4, atol=1e-5)  # full-space distances
    np.testing.assert_allclose(d_exact, np.sort(d_exact, axis=1))


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_auto_recovers_c_on_an_easy_mixture() -> None:
    x, y = mixture(600, 6, 20, spread=0.25, seed=4)
    model = SpectralVideoClustering(n_clusters="auto", solver="sparse", auto_range=(2, 15)).fit(x)
    assert model.n_clusters_ == 6
    assert sorted(model.auto_scores_) == list(range(2, 16)) and model.eigenvalues_.shape == (15,)
    assert max(model.auto_scores_, key=model.auto_scores_.get) == 6
    assert adjusted_rand_score(y, model.labels_) > 0.95


def test_auto_finds_the_classes_below_families() -> None:
    """Twelve clusters in four families of three: the wide kernel's eigengap sees the four families, the silhouette
    of the descriptors the twelve clusters."""
    rng = np.random.default_rng(0)
    family = rng.normal(size=(4, 24)) * 3
    centres = np.repeat(family, 3, axis=0) + rng.normal(size=(12, 24))
    y = np.repeat(np.arange(12), 30)
    x = centres[y] + rng.normal(size=(360, 24)) * 0.2
    model = SpectralVideoClustering(n_clusters="auto", solver="dense", auto_range=(2, 40)).fit(x)
    gaps = np.diff(model.eigenvalues_)
    assert int(np.argmax(gaps[1:])) + 2 == 4  # the largest eigengap (C >= 2) is the families'
    assert model.n_clusters_ == 12
    assert adjusted_rand_score(y, model.labels_) > 0.95


def test_auto_candidates_cover_the_range() -> None:
    assert auto_candidates(2, 8) == list(range(2, 9))
    grid = auto_candidates(2, 200)
    assert grid[:29] == list(range(2, 31)) and grid[-1] == 200
    assert all(0 < b - a <= max(1, round(0.1 * a) + 1) for a, b in zip(grid, grid[1:], strict=False))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clusters": 0},
        {"n_clusters": "three"},
        {"n_clusters": 2.5},
        {"solver": "gpu"},
        {"knn": "hnsw"},
        {"n_neighbors": 0},
        {"n_init": 0},
        {"random_state": -1},
        {"auto_range": (5, 3)},
        {"auto_range": (1, 3)},
    ],
)
def test_rejects_bad_parameters(kwargs: dict) -> None:
    model = SpectralVideoClustering(**kwargs)  # scikit-learn convention: stored as given, validated by fit
    assert model.get_params()[next(iter(kwargs))] == next(iter(kwargs.values()))
    with pytest.raises(ConfigError):
        model.fit(mixture(20, 2, 4)[0])


def test_rejects_bad_descriptors() -> None:
    x, _ = mixture(20, 2, 4)
    with pytest.raises(DataError, match="smaller than the number of videos, got 20 sample"):
        SpectralVideoClustering(n_clusters=25).fit(x)
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(DataError, match="NaN/Inf.*row 7"):
        SpectralVideoClustering(n_clusters=2).fit(bad)
    with pytest.raises(DataError, match=r"\(N, D\)"):
        SpectralVideoClustering(n_clusters=2).fit(x[:, 0])
    with pytest.raises(DataError, match="identical"):
        SpectralVideoClustering(n_clusters=2).fit(np.ones((10, 3)))
    with pytest.raises(DataError, match="needs at least"):
        SpectralVideoClustering(n_clusters="auto", auto_range=(5, 9)).fit(x[:6])
    with pytest.raises(DataError, match="descriptors: .*inhomogeneous"):
        SpectralVideoClustering(n_clusters=2).fit([[1.0, 2.0], [3.0]])


# -- a scikit-learn estimator ----------------------------------------------------------------------------------


@parametrize_with_checks([SpectralVideoClustering(n_clusters=2)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def test_one_cluster_is_the_trivial_partition() -> None:
    x, _ = mixture(60, 3, 6)
    model = SpectralVideoClustering(n_clusters=1).fit(x)
    assert model.n_clusters_ == 1 and (model.labels_ == 0).all()


def test_params_round_trip_and_seed_forms() -> None:
    x, _ = mixture(150, 3, 6)
    model = SpectralVideoClustering(n_clusters=3, auto_range=[2, 9], random_state=5)
    assert model.get_params()["auto_range"] == [2, 9]  # stored exactly as given
    labels = model.fit_predict(x)
    np.testing.assert_array_equal(clone(model).fit(x).labels_, labels)
    assert model.n_features_in_ == 6 and model.n_connected_components_ == 1
    a, b = (SpectralVideoClustering(n_clusters=3, random_state=np.random.RandomState(5)).fit(x) for _ in range(2))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert adjusted_rand_score(a.labels_, labels) > 0.9
    assert set(SpectralVideoClustering(n_clusters=3, random_state=None).fit_predict(x)) == {0, 1, 2}
