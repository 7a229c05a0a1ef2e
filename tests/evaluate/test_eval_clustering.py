"""Clustering metrics against sklearn and hand counts; the multi-label rule."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from cotal.data.annotations import Annotations
from cotal.evaluate import clustering_metrics, primary_label


def single_label_ann(labels: dict[str, str | None]) -> Annotations:
    db = {
        v: {
            "subset": "validation",
            "duration": 100.0,
            "annotations": [] if lab is None else [{"segment": [0, 10], "label": lab}],
        }
        for v, lab in labels.items()
    }
    return Annotations.from_json({"database": db})


def test_hand_computed_purity_and_accuracy():
    # cluster 0: A A B ; cluster 1: B B ; cluster 2: C A
    labels = {"v0": "A", "v1": "A", "v2": "B", "v3": "B", "v4": "B", "v5": "C", "v6": "A"}
    clusters = {"v0": 0, "v1": 0, "v2": 0, "v3": 1, "v4": 1, "v5": 2, "v6": 2}
    m = clustering_metrics(clusters, single_label_ann(labels))
    # purity = (2 + 2 + 1) / 7; Hungarian: 0->A (2), 1->B (2), 2->C (1) = 5/7 too.
    assert m["purity"] == pytest.approx(5 / 7) and m["accuracy"] == pytest.approx(5 / 7)
    assert m["num_videos"] == 7 and m["num_clusters"] == 3 and m["num_classes"] == 3


def test_accuracy_is_one_to_one_unlike_purity():
    # Two clusters both dominated by A: purity counts A twice, the one-to-one accuracy cannot.
    labels = {"a": "A", "b": "A", "c": "A", "d": "A", "e": "B", "f": "B"}
    clusters = {"a": 0, "b": 0, "e": 0, "c": 1, "d": 1, "f": 1}
    m = clustering_metrics(clusters, single_label_ann(labels))
    assert m["purity"] == pytest.approx(4 / 6)
    assert m["accuracy"] == pytest.approx(3 / 6)  # 0->A (2) + 1->B (1), or 0->B (1) + 1->A (2)


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_sklearn_and_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, k, c = int(rng.integers(5, 60)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
    y = rng.integers(c, size=n)
    z = np.where(rng.random(n) < 0.6, y, rng.integers(k, size=n))
    ids = [f"v{i:03d}" for i in range(n)]
    m = clustering_metrics(
        {v: int(zz) for v, zz in zip(ids, z, strict=True)},
        single_label_ann({v: f"c{yy}" for v, yy in zip(ids, y, strict=True)}),
    )
    assert m["ari"] == pytest.approx(adjusted_rand_score(y, z), abs=1e-12)
    assert m["nmi_geometric"] == pytest.approx(normalized_mutual_info_score(y, z, average_method="geometric"), abs=1e-9)
    assert m["nmi_arithmetic"] == pytest.approx(
        normalized_mutual_info_score(y, z, average_method="arithmetic"), abs=1e-9
    )
    # Hungarian accuracy = the best one-to-one relabelling, by brute force over injections.
    zs, ys = sorted(set(z.tolist())), sorted(set(y.tolist()))
    best = 0
    small, large = (zs, ys) if len(zs) <= len(ys) else (ys, zs)
    for perm in itertools.permutations(large, len(small)):
        pairs = dict(zip(small, perm, strict=True))
        hits = sum(pairs.get(a if small is zs else b) == (b if small is zs else a) for a, b in zip(z, y, strict=True))
        best = max(best, hits)
    assert m["accuracy"] == pytest.approx(best / n)
    purity = sum(np.bincount(y[z == kk]).max() for kk in zs) / n
    assert m["purity"] == pytest.approx(purity)


def test_multilabel_rule_and_purity_multilabel():
    db = {
        # 2 x A vs 1 x B -> A.
        "m1": [([0, 5], "A"), ([10, 15], "A"), ([20, 60], "B")],
        # 1 A (10 s) vs 1 B (20 s): tie on count, B is longer -> B.
        "m2": [([0, 10], "A"), ([20, 40], "B")],
        # equal count and duration -> alphabetical: A.
        "m3": [([0, 10], "B"), ([20, 30], "A")],
        "s1": [([0, 10], "A")],
        "none": [],
    }
    ann = Annotations.from_json(
        {
            "database": {
                v: {
                    "subset": "validation",
                    "duration": 100.0,
                    "annotations": [{"segment": s, "label": lab} for s, lab in a],
                }
                for v, a in db.items()
            }
        }
    )
    assert [primary_label(ann[v]) for v in ("m1", "m2", "m3", "s1", "none")] == ["A", "B", "A", "A", None]
    m = clustering_metrics({"m1": 0, "m2": 0, "m3": 0, "s1": 0, "none": 0, "ghost": 1}, ann)
    # Primary labels in cluster 0: A, B, A, A -> purity 3/4. Any-label: all four carry A -> 4/4.
    assert m["purity"] == pytest.approx(0.75) and m["purity_multilabel"] == pytest.approx(1.0)
    assert m["num_videos"] == 4 and m["skipped_unlabelled"] == 1 and m["unknown_videos"] == ["ghost"]
    assert m["num_multilabel"] == 3


def test_trivial_and_empty_cases():
    ann = single_label_ann({"a": "A", "b": "A"})
    m = clustering_metrics({"a": 0, "b": 0}, ann)
    assert m["ari"] == 1.0 and m["nmi_geometric"] == 1.0 and m["purity"] == 1.0
    empty = clustering_metrics({}, ann)
    assert empty["num_videos"] == 0 and np.isnan(empty["purity"])
    sub = clustering_metrics({"a": 0, "b": 1}, ann, video_ids=["a", "c"])
    assert sub["num_videos"] == 1 and sub["unknown_videos"] == ["c"] and sub["unassigned"] == 1


# -- scikit-learn's metrics against the closed formulas on contingency tables ------------------------------------


def _closed_form_nmi(table: np.ndarray) -> tuple[float, float]:
    """(geometric, arithmetic) NMI of a contingency table from its entropies (natural log); 1.0 if both trivial."""
    n = int(table.sum())
    a, b = table.sum(axis=1), table.sum(axis=0)
    if (len(a) == 1 and len(b) == 1) or n == 0:
        return 1.0, 1.0
    nz = table > 0
    mi = float((table[nz] / n * (np.log(table[nz] * n) - np.log(np.outer(a, b)[nz].astype(np.float64)))).sum())
    hu, hv = (float(-(p * np.log(p)).sum()) for p in (a[a > 0] / n, b[b > 0] / n))
    geo = mi / np.sqrt(hu * hv) if hu * hv > 0 else 0.0
    arith = mi / ((hu + hv) / 2) if hu + hv > 0 else 0.0
    return max(geo, 0.0), max(arith, 0.0)


def _closed_form_ari(table: np.ndarray) -> float:
    """Adjusted Rand index from exact integer pair counts; 1.0 when both labelings are trivial."""
    total = comb(int(table.sum()), 2)
    index = sum(comb(int(x), 2) for x in table.ravel())
    sa = sum(comb(int(x), 2) for x in table.sum(axis=1))
    sb = sum(comb(int(x), 2) for x in table.sum(axis=0))
    if total == 0:
        return 1.0
    expected, max_index = sa * sb / total, (sa + sb) / 2
    return 1.0 if max_index == expected else (index - expected) / (max_index - expected)


@pytest.mark.parametrize("seed", range(40))
def test_sklearn_metrics_match_the_closed_formulas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    k, c = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    if seed % 10 == 0:  # degenerate labelings: all singletons, or one group
        z, y = np.arange(n), np.zeros(n, dtype=int) if seed % 20 else np.arange(n)
    else:
        y = rng.integers(c, size=n)
        z = np.where(rng.random(n) < rng.random(), y, rng.integers(k, size=n))
    table = contingency_matrix(z, y)
    assert table.sum() == n and table.dtype == np.int64
    geo, arith = _closed_form_nmi(table)
    assert normalized_mutual_info_score(y, z, average_method="geometric") == pytest.approx(geo, abs=1e-12, rel=0)
    assert normalized_mutual_info_score(y, z, average_method="arithmetic") == pytest.approx(arith, abs=1e-12, rel=0)
    assert adjusted_rand_score(y, z) == pytest.approx(_closed_form_ari(table), abs=1e-12, rel=0)
