"""Cluster-to-class mapping: the soft-majority rule, Hungarian, applying it to detections."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.data.annotations import Annotations
from cotal.errors import ConfigError
from cotal.evaluate import apply_mapping, build_mapping, evaluate_detections, mapping_to_json


def ann_from(labels: dict[str, list[str]], subset: str = "validation") -> Annotations:
    db = {
        v: {
            "subset": subset,
            "duration": 100.0,
            "annotations": [{"segment": [i * 10, i * 10 + 5], "label": lab} for i, lab in enumerate(labs)],
        }
        for v, labs in labels.items()
    }
    return Annotations.from_json({"database": db})


def test_soft_majority_rule():
    # cluster 0: A x3, B x2, C x1 -> A 1.0; B (2 >= 3/2) 0.5; C (1 < 1.5) dropped.
    # cluster 1: B x2, D x1 (1 >= 2/2) -> B 1.0, D 0.5.  cluster 2: tie A/C x1 -> A (alphabetical) 1.0, C 0.5.
    labels = {
        "a1": ["A"], "a2": ["A"], "a3": ["A"], "b1": ["B"], "b2": ["B"], "c1": ["C"],
        "b3": ["B"], "b4": ["B"], "d1": ["D"],
        "x1": ["C"], "x2": ["A"],
        "u": [],
    }  # fmt: skip
    clusters = {"a1": 0, "a2": 0, "a3": 0, "b1": 0, "b2": 0, "c1": 0, "b3": 1, "b4": 1, "d1": 1, "x1": 2, "x2": 2}
    clusters["u"] = 7  # unlabelled only: no mapping
    clusters["missing"] = 8  # not in the annotations: skipped
    mapping = build_mapping(clusters, ann_from(labels))
    assert mapping == {0: [("A", 1.0), ("B", 0.5)], 1: [("B", 1.0), ("D", 0.5)], 2: [("A", 1.0), ("C", 0.5)]}
    assert mapping_to_json(mapping)["0"] == [["A", 1.0], ["B", 0.5]]


def test_multilabel_video_counts_for_each_class():
    mapping = build_mapping({"v1": 0, "v2": 0}, ann_from({"v1": ["Diving", "CliffDiving"], "v2": ["Diving"]}))
    assert mapping == {0: [("Diving", 1.0), ("CliffDiving", 0.5)]}


def test_hungarian_is_one_to_one():
    # Both clusters are mostly A; Hungarian gives A to the cluster with more A and B to the other.
    labels = {"a1": ["A"], "a2": ["A"], "a3": ["A"], "a4": ["A"], "a5": ["A"], "b1": ["B"]}
    clusters = {"a1": 0, "a2": 0, "a3": 0, "a4": 1, "a5": 1, "b1": 1}
    assert build_mapping(clusters, ann_from(labels), method="hungarian") == {0: [("A", 1.0)], 1: [("B", 1.0)]}
    assert build_mapping(clusters, ann_from(labels), method="soft") == {0: [("A", 1.0)], 1: [("A", 1.0), ("B", 0.5)]}
    # More clusters than classes: the leftover cluster maps to nothing.
    extra = build_mapping({**clusters, "a6": 5}, ann_from({**labels, "a6": ["A"]}), method="hungarian")
    assert len(extra) == 2
    with pytest.raises(ConfigError):
        build_mapping(clusters, ann_from(labels), method="vote")


def test_apply_mapping_emits_one_detection_per_class():
    dets = {"v": [{"segment": [0, 1], "label": "0", "score": 0.8}, {"segment": [2, 3], "label": "9", "score": 0.4}]}
    out = apply_mapping(dets, {0: [("A", 1.0), ("B", 0.5)]})
    assert out["v"][0] == {"segment": [0, 1], "label": "A", "score": 0.8}
    assert out["v"][1] == {"segment": [0, 1], "label": "B", "score": pytest.approx(0.4)}
    assert out["v"][2] == dets["v"][1]  # unmapped cluster passes through unchanged (reported later as unknown)
    assert dets["v"][0]["label"] == "0"  # input untouched


def test_mapping_from_training_videos_gives_perfect_test_map():
    # Training clusters are a relabelling of the classes; test detections carry cluster ids.
    train = {f"tr{i}": [["A", "B", "C"][i % 3]] for i in range(9)}
    test = {f"te{i}": [["A", "B", "C"][i % 3]] for i in range(6)}
    ann = Annotations(videos={**ann_from(train).videos, **ann_from(test, subset="test").videos})
    cluster_of = {"A": 2, "B": 0, "C": 1}
    assignments = {v: cluster_of[labs[0]] for v, labs in train.items()}
    dets = {v: [{"segment": [0, 5], "label": str(cluster_of[labs[0]]), "score": 0.9}] for v, labs in test.items()}
    for method in ("soft", "hungarian"):
        mapped = apply_mapping(dets, build_mapping(assignments, ann, method=method))
        res = evaluate_detections(ann, mapped, [0.5], subset="test")
        np.testing.assert_allclose(res.ap, 1.0)
