"""run_evaluation and its steps: the library side of ``cotal eval`` and ``Pipeline.evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cotal.data.annotations import Annotations
from cotal.errors import DataError
from cotal.evaluate import (
    apply_mapping,
    build_mapping,
    detections_to_arrays,
    evaluate_detections,
    load_ground_truth,
    match_video_ids,
    run_evaluation,
    training_assignments,
)
from tests.evaluate.test_eval_detection import random_case


def clustered_case(seed: int) -> tuple[Annotations, dict, dict[str, int]]:
    """Random ground truth, detections labelled with cluster ids ("0".."3", some not mapped) and train assignments."""
    ann, dets = random_case(seed, videos=30)
    rng = np.random.default_rng(seed)
    relabel = {f"c{i}": str(j) for i, j in enumerate(rng.permutation(4))}
    dets = {
        v: [{**d, "label": relabel[d["label"]] if rng.random() < 0.9 else "7"} for d in ds] for v, ds in dets.items()
    }
    train = {v: int(rng.integers(4)) for v in ann.ids("train")}
    return ann, dets, train


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", ["soft", "hungarian"])
def test_mapping_on_arrays_equals_mapping_on_dicts(seed, method):
    # Mapping the detection dicts then evaluating them gives what run_evaluation gets by mapping the flat arrays.
    ann, dets, train = clustered_case(seed)
    mapping = build_mapping(train, ann, method=method)
    on_dicts = evaluate_detections(ann, apply_mapping(dets, mapping), "thumos14", subset="test").to_json()
    for given in (dets, detections_to_arrays(dets)):
        ev = run_evaluation(ann, given, "thumos14", train_assignments=train, mapping=method, subset="test")
        assert json.dumps(ev.detection.to_json()) == json.dumps(on_dicts)
        assert ev.mapped.mapping == mapping and ev.mapped.num_train_videos == len(train)
        labels = {d["label"] for ds in dets.values() for d in ds}
        assert ev.mapped.unmapped_labels == sorted(lab for lab in labels if int(lab) not in mapping)
        assert "7" in ev.mapped.unmapped_labels and not ev.labels_look_like_clusters
        assert set(ev.to_json()) == {"mapping", "clustering_train", "detection"}


def test_without_assignments_is_evaluate_detections_and_hints_at_clusters():
    ann, dets, _ = clustered_case(0)
    ev = run_evaluation(ann, dets, [0.3, 0.5], subset="test", max_per_video=5)
    expected = evaluate_detections(ann, dets, [0.3, 0.5], subset="test", max_per_video=5).to_json()
    assert ev.mapped is None and json.dumps(ev.to_json()) == json.dumps({"detection": expected})
    assert ev.labels_look_like_clusters  # every unknown label is a cluster id


def test_training_assignments_keep_training_videos_only():
    ann, _, _ = clustered_case(1)
    assign = {v: 0 for v in ann.ids()}
    evaluated = set(ann.ids("test"))
    with pytest.raises(
        DataError, match=r"^c\.json: 1 of \d+ assigned videos are not in the ground truth \(e\.g\. 'ghost'\)"
    ):
        training_assignments(assign | {"ghost": 1}, ann, evaluated=evaluated, train_subset=None, source="c.json")
    train = training_assignments(assign, ann, evaluated=evaluated, train_subset=None)
    assert set(train) == set(ann.ids()) - evaluated
    assert training_assignments(assign, ann, evaluated=set(), train_subset="train") == dict.fromkeys(
        ann.ids("train"), 0
    )
    with pytest.raises(DataError, match=r"^c\.json: no assigned video belongs to the training videos \(subset train\)"):
        training_assignments({v: 0 for v in evaluated}, ann, evaluated=evaluated, train_subset="train", source="c.json")


def test_ground_truth_subsets_and_id_matching(toy_dataset):
    folder = load_ground_truth(toy_dataset)
    assert (folder.test_subset, folder.evaluated_subset()) == ("test", "test")
    assert folder.evaluated_subset("validation") == "validation"
    with pytest.raises(DataError, match="no videos in subset 'nope'; subsets: "):
        folder.evaluated_subset("nope")
    plain = load_ground_truth(toy_dataset / "annotations.json")
    assert (plain.test_subset, plain.train_subset, plain.evaluated_subset()) == (None, None, None)
    vid = plain.annotations.ids()[0]
    arr = detections_to_arrays({f"v_{vid}": [], "other": []})
    renamed, count = match_video_ids(arr, plain.annotations)
    assert count == 1 and renamed.video_ids == [vid, "other"]
    same, none = match_video_ids(renamed, plain.annotations)
    assert none == 0 and same is renamed
