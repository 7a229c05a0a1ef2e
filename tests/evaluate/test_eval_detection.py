"""Detection mAP: hand-computed cases, options, bad input, agreement with the reference loop, properties."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotal.data.annotations import Annotations
from cotal.errors import ConfigError, DataError
from cotal.evaluate import ACTIVITYNET_TIOU, THUMOS14_TIOU, evaluate_detections, per_video_map
from tests.evaluate.anet_reference import reference_map


def gt(videos: dict[str, list[tuple[float, float, str]]], subset: str = "test", ambiguous=None) -> Annotations:
    db = {
        v: {"subset": subset, "duration": 1000.0, "annotations": [{"segment": [s, e], "label": lab} for s, e, lab in a]}
        for v, a in videos.items()
    }
    obj = {"database": db}
    if ambiguous:
        obj["ambiguous"] = ambiguous
    return Annotations.from_json(obj)


def det(s: float, e: float, label: str, score: float) -> dict:
    return {"segment": [s, e], "label": label, "score": score}


def ap_of(annotations, detections, thr, **kw) -> np.ndarray:
    return evaluate_detections(annotations, detections, thr, **kw).ap


# -- hand-computed cases ---------------------------------------------------------------------------------------


def test_duplicate_is_false_positive_and_interpolation():
    ann = gt({"v": [(0, 10, "A"), (20, 30, "A")]})
    dets = {"v": [det(0, 10, "A", 0.9), det(0, 10, "A", 0.8), det(21, 30, "A", 0.7)]}
    # thr 0.5: TP (g1, tIoU 1), FP (g1 taken, g2 tIoU 0), TP (g2, tIoU 9/10).
    #   precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # thr 0.95: the third is a FP too -> AP = 1/2 * 1 = 1/2.
    ap = ap_of(ann, dets, [0.5, 0.95])
    np.testing.assert_allclose(ap, [[5 / 6, 0.5]], rtol=0, atol=1e-12)


def test_matches_highest_tiou_unmatched_ground_truth():
    ann = gt({"v": [(0, 10, "A"), (5, 15, "A")]})
    # p1 [4, 14]: tIoU 6/14 = 0.43 with g1, 9/11 = 0.82 with g2 -> takes g2.
    # p2 [0, 9]: tIoU 9/10 with g1 -> TP. Both TP at 0.4 -> AP 1.
    # (Taking the first GT over the threshold would give p1 -> g1 and p2 a FP (tIoU 4/15 with g2): AP 1/2.)
    dets = {"v": [det(4, 14, "A", 0.9), det(0, 9, "A", 0.8)]}
    assert ap_of(ann, dets, [0.4])[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_per_video_map_counts_each_videos_own_classes():
    ann = gt({"a": [(0, 10, "A")], "b": [(0, 10, "B"), (20, 30, "B")], "c": []})
    dets = {
        "a": [det(0, 10, "A", 0.9), det(0, 10, "B", 0.8)],  # B has no ground truth in a: not counted there
        "b": [det(0, 10, "B", 0.9), det(50, 60, "B", 0.8)],  # one of two found at either threshold -> 1/2
        "c": [det(0, 10, "A", 0.9)],  # no ground truth: skipped
        "x": [det(0, 10, "A", 0.9)],  # not annotated: skipped
    }
    assert per_video_map(ann, dets, [0.5, 0.7]) == pytest.approx({"a": 1.0, "b": 0.5})


def test_threshold_is_inclusive():
    ann = gt({"v": [(0, 10, "A")]})
    dets = {"v": [det(0, 5, "A", 0.9)]}  # tIoU exactly 5/10
    np.testing.assert_allclose(ap_of(ann, dets, [0.5, 0.50001]), [[1.0, 0.0]])


def test_class_without_predictions_scores_zero_and_counts_in_map():
    ann = gt({"v": [(0, 10, "A"), (20, 30, "B")]})
    res = evaluate_detections(ann, {"v": [det(0, 10, "A", 0.5)]}, [0.5])
    assert res.classes == ["A", "B"]
    np.testing.assert_allclose(res.ap[:, 0], [1.0, 0.0])
    assert res.map_per_tiou[0] == pytest.approx(0.5) and res.average_map == pytest.approx(0.5)


def test_prediction_in_video_without_that_class_is_false_positive():
    ann = gt({"v1": [(0, 10, "A")], "v2": [(0, 10, "B")]})
    # FP (v2 has no A) at 0.9, then TP at 0.5: precision 0, 1/2 -> AP = 1 * 1/2.
    dets = {"v2": [det(0, 10, "A", 0.9)], "v1": [det(0, 10, "A", 0.5)]}
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(("tp_video", "expected"), [("a", 1.0), ("b", 0.5)])
def test_tie_rule_orders_equal_scores_by_video_id(tp_video, expected):
    fp_video = "b" if tp_video == "a" else "a"
    ann = gt({tp_video: [(0, 10, "A")], fp_video: []})
    # Equal scores: video "a" first. TP then FP -> AP 1; FP then TP -> precision 0, 1/2 -> AP 1/2.
    dets = {fp_video: [det(50, 60, "A", 0.5)], tp_video: [det(0, 10, "A", 0.5)]}
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(expected, abs=1e-12)


def test_equal_tiou_takes_earliest_annotation():
    ann = gt({"v": [(0, 10, "A"), (5, 15, "A")]})
    dets = {"v": [det(5, 10, "A", 0.9), det(0, 10, "A", 0.8)]}
    # p1 [5, 10]: tIoU 5/10 with both -> takes g1, the earlier. p2 [0, 10]: g1 taken, g2 tIoU 5/15 < 0.5 -> FP.
    # precision 1, 1/2; recall 1/2, 1/2 -> AP = 1/2. (Had p1 taken g2, p2 would match g1: AP 1.)
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(0.5, abs=1e-12)


def test_presets_and_threshold_validation():
    ann = gt({"v": [(0, 10, "A")]})
    res = evaluate_detections(ann, {"v": [det(0, 10, "A", 1.0)]}, "activitynet")
    np.testing.assert_allclose(res.tiou_thresholds, np.linspace(0.5, 0.95, 10))
    np.testing.assert_allclose(evaluate_detections(ann, {}, "THUMOS14").tiou_thresholds, np.arange(1, 8) / 10)
    assert len(THUMOS14_TIOU) == 7 and len(ACTIVITYNET_TIOU) == 10
    for bad in ([], [0.0], [1.2], "coco"):
        with pytest.raises(ConfigError):
            evaluate_detections(ann, {}, bad)


# -- options ---------------------------------------------------------------------------------------------------


def test_ambiguous_modes():
    ann = gt({"v": [(0, 10, "A")]}, ambiguous={"v": [[50, 60]]})
    dets = {"v": [det(52, 58, "A", 0.9), det(0, 10, "A", 0.8)]}
    # Off: FP then TP -> AP 1/2. ignore_fp / drop: the FP inside the ambiguous interval does not count -> AP 1.
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(0.5)
    assert ap_of(ann, dets, [0.5], ambiguous="ignore_fp")[0, 0] == pytest.approx(1.0)
    assert ap_of(ann, dets, [0.5], ambiguous="drop")[0, 0] == pytest.approx(1.0)
    # A true positive touching an ambiguous interval stays a TP under ignore_fp, and is removed by drop.
    ann2 = gt({"v": [(0, 10, "A")]}, ambiguous={"v": [[8, 12]]})
    dets2 = {"v": [det(0, 10, "A", 0.9)]}
    assert ap_of(ann2, dets2, [0.5], ambiguous="ignore_fp")[0, 0] == pytest.approx(1.0)
    res = evaluate_detections(ann2, dets2, [0.5], ambiguous="drop")
    assert res.ap[0, 0] == 0.0 and res.dropped["ambiguous"] == 1
    with pytest.raises(ConfigError):
        evaluate_detections(ann, dets, [0.5], ambiguous="yes")


def test_ambiguous_ignore_is_per_threshold():
    ann = gt({"v": [(0, 10, "A")]}, ambiguous={"v": [[9, 30]]})
    # p1 [0, 20] (tIoU 0.5) overlaps the ambiguous interval: TP at 0.3, ignored FP at 0.7; p2 [40, 50] is a FP.
    # 0.3: TP, FP -> AP 1. 0.7: p1 ignored, p2 FP -> AP 0.
    dets = {"v": [det(0, 20, "A", 0.9), det(40, 50, "A", 0.8)]}
    np.testing.assert_allclose(ap_of(ann, dets, [0.3, 0.7], ambiguous="ignore_fp"), [[1.0, 0.0]])


def test_max_per_video_keeps_top_scores():
    ann = gt({"v": [(0, 10, "A")]})
    dets = {"v": [det(0, 10, "A", 0.1), det(50, 60, "A", 0.9), det(70, 80, "A", 0.8)]}
    # All: FP, FP, TP -> precision at the TP 1/3 -> AP 1/3. Top-2 keeps the two FPs -> AP 0.
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(1 / 3)
    res = evaluate_detections(ann, dets, [0.5], max_per_video=2)
    assert res.ap[0, 0] == 0.0 and res.dropped["over_max_per_video"] == 1
    with pytest.raises(ConfigError):
        evaluate_detections(ann, dets, [0.5], max_per_video=0)


def test_dedup_gt():
    ann = gt({"v": [(0, 10, "A"), (0, 10, "A")]})
    dets = {"v": [det(0, 10, "A", 0.9)]}
    # Two identical instances, one prediction: recall 1/2 -> AP 1/2; de-duplicated -> AP 1.
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(0.5)
    res = evaluate_detections(ann, dets, [0.5], dedup_gt=True)
    assert res.ap[0, 0] == pytest.approx(1.0) and res.dropped["duplicate_gt"] == 1


def test_exclude_subset_and_video_ids():
    ann = Annotations.from_json(
        {
            "database": {
                "t1": {"subset": "test", "duration": 100.0, "annotations": [{"segment": [0, 10], "label": "A"}]},
                "t2": {"subset": "test", "duration": 100.0, "annotations": [{"segment": [0, 10], "label": "A"}]},
                "tr": {"subset": "train", "duration": 100.0, "annotations": [{"segment": [0, 10], "label": "B"}]},
            }
        }
    )
    dets = {"t1": [det(0, 10, "A", 0.9)], "tr": [det(50, 60, "A", 0.99), det(0, 10, "B", 0.5)]}
    res = evaluate_detections(ann, dets, [0.5], subset="test")
    # t2 is missed: recall 1/2 -> AP 1/2. Detections on the train video are dropped, not counted as FPs.
    assert res.classes == ["A"] and res.ap[0, 0] == pytest.approx(0.5)
    assert res.dropped["not_evaluated_video"] == 2 and res.num_videos == 2
    assert evaluate_detections(ann, dets, [0.5], subset="test", exclude_videos=["t2"]).ap[0, 0] == pytest.approx(1)
    assert evaluate_detections(ann, dets, [0.5], video_ids=["t1"]).ap[0, 0] == pytest.approx(1)
    with pytest.raises(DataError, match="not in the annotations"):
        evaluate_detections(ann, dets, [0.5], video_ids=["nope"])


def test_unknown_videos_and_labels_are_reported_not_fatal():
    ann = Annotations.from_json(
        {
            "database": {
                "v": {"subset": "test", "duration": 100.0, "annotations": [{"segment": [0, 10], "label": "A"}]},
                "w": {"subset": "train", "duration": 100.0, "annotations": [{"segment": [0, 10], "label": "B"}]},
            }
        }
    )
    dets = {
        "v": [det(0, 10, "A", 0.5), det(0, 10, "Foo", 0.9), det(0, 10, "B", 0.8)],
        "ghost": [det(0, 10, "A", 0.99)],
    }
    res = evaluate_detections(ann, dets, [0.5], subset="test")
    assert res.ap[0, 0] == pytest.approx(1.0)
    assert res.unknown_videos == ["ghost"] and res.unknown_labels == ["Foo"] and res.labels_without_gt == ["B"]
    assert res.dropped["unknown_video"] == 1 and res.dropped["unknown_label"] == 2
    text = res.table()
    assert "ghost" in text and "Foo" in text and "B" in text
    js = res.to_json()
    assert js["unknown_videos"] == ["ghost"] and js["ap"]["A"] == [pytest.approx(1.0)]


def test_malformed_detection_names_video_and_index():
    ann = gt({"v": [(0, 10, "A")]})
    with pytest.raises(DataError, match=r"video 'v' detection 1: 'score'"):
        evaluate_detections(ann, {"v": [det(0, 10, "A", 0.5), det(0, 10, "A", float("nan"))]}, [0.5])
    with pytest.raises(DataError, match="end 1 is before its start 5"):
        evaluate_detections(ann, {"v": [det(5, 1, "A", 0.5)]}, [0.5])
    with pytest.raises(DataError, match="missing 'label'"):
        evaluate_detections(ann, {"v": [{"segment": [0, 1], "score": 1.0}]}, [0.5])


def test_numpy_scalars_are_accepted():
    ann = gt({"v": [(0, 10, "A")]})
    dets = {"v": [{"segment": np.array([0.0, 10.0], dtype=np.float32), "label": "A", "score": np.float32(0.5)}]}
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(1.0)


def test_table_is_readable():
    ann = gt({"v": [(0, 10, "A")]})
    res = evaluate_detections(ann, {"v": [det(0, 10, "A", 0.9)]}, [0.3, 0.5])
    text = res.table()
    assert "mAP (%)" in text and "100.00" in text and "0.30" in text and "avg" in text


# -- agreement with the per-prediction reference loop ----------------------------------------------------------


def random_case(seed: int, videos: int = 25, classes: int = 4, ties: bool = False):
    rng = np.random.default_rng(seed)
    db, dets = {}, {}
    for i in range(videos):
        anns = []
        for _ in range(int(rng.integers(0, 6))):
            s = float(rng.uniform(0, 90))
            anns.append({"segment": [s, s + float(rng.uniform(1, 15))], "label": f"c{rng.integers(classes)}"})
        db[f"v{i:02d}"] = {"subset": "test" if i % 5 else "train", "duration": 120.0, "annotations": anns}
        out = []
        for _ in range(int(rng.integers(0, 15))):
            if anns and rng.random() < 0.7:
                a = anns[int(rng.integers(len(anns)))]
                s, e = np.asarray(a["segment"]) + rng.normal(0, 2, size=2)
                lab = a["label"] if rng.random() < 0.85 else f"c{rng.integers(classes)}"
            else:
                s = float(rng.uniform(0, 100))
                e, lab = s + float(rng.uniform(0.5, 15)), f"c{rng.integers(classes)}"
            score = float(np.round(rng.random(), 1)) if ties else float(rng.random())
            out.append(det(float(min(s, e)), float(max(s, e)), lab, score))
        dets[f"v{i:02d}"] = out
    return Annotations.from_json({"database": db}), dets


@pytest.mark.parametrize("ties", [False, True])
def test_agrees_with_reference_loop(ties):
    thr = np.linspace(0.1, 0.95, 18)
    for seed in range(12):
        ann, dets = random_case(seed, ties=ties)
        res = evaluate_detections(ann, dets, thr, subset="test")
        classes, ap = reference_map(ann, dets, thr, subset="test")
        assert res.classes == classes
        np.testing.assert_allclose(res.ap, ap, rtol=0, atol=1e-9)


# -- properties ------------------------------------------------------------------------------------------------

segment = st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0.5, 30, allow_nan=False)).map(
    lambda t: (t[0], t[0] + t[1])
)
ground_truth = st.dictionaries(
    st.sampled_from([f"v{i}" for i in range(5)]),
    st.lists(st.tuples(segment, st.sampled_from("ABC")), min_size=0, max_size=6),
    min_size=1,
)
THR = [0.1, 0.3, 0.5, 0.7, 0.9]


def to_ann(g) -> Annotations:
    return gt({v: [(s, e, lab) for (s, e), lab in items] for v, items in g.items()})


@settings(max_examples=60, deadline=None)
@given(ground_truth, st.randoms(use_true_random=False))
def test_perfect_predictions_score_one(g, rnd):
    ann = to_ann(g)
    if not ann.classes:
        return
    dets = {
        v: [det(s, e, lab, rnd.choice([0.2, 0.5, rnd.random()])) for (s, e), lab in items] for v, items in g.items()
    }
    np.testing.assert_allclose(ap_of(ann, dets, THR), 1.0, atol=1e-12)


def random_dets(g, data) -> dict:
    out = {}
    for v in g:
        n = data.draw(st.integers(0, 8))
        out[v] = [
            det(*data.draw(segment), data.draw(st.sampled_from("ABC")), data.draw(st.sampled_from([0.1, 0.5, 0.9])))
            for _ in range(n)
        ]
    return out


@settings(max_examples=60, deadline=None)
@given(ground_truth, st.data())
def test_input_order_does_not_matter(g, data):
    ann = to_ann(g)
    dets = random_dets(g, data)  # scores drawn from 3 values: many ties
    rnd = random.Random(data.draw(st.integers(0, 1000)))
    items = list(dets.items())
    rnd.shuffle(items)
    shuffled = {v: rnd.sample(ds, len(ds)) for v, ds in items}
    np.testing.assert_array_equal(ap_of(ann, dets, THR), ap_of(ann, shuffled, THR))


@settings(max_examples=60, deadline=None)
@given(ground_truth, st.data())
def test_lowest_scored_detection_never_lowers_ap_and_a_false_one_changes_nothing(g, data):
    ann = to_ann(g)
    dets = random_dets(g, data)
    base = ap_of(ann, dets, THR)
    v = data.draw(st.sampled_from(sorted(g)))
    extra = det(*data.draw(segment), data.draw(st.sampled_from("ABC")), 0.01)
    more = {**dets, v: [*dets[v], extra]}
    assert np.all(ap_of(ann, more, THR) >= base - 1e-12)
    # A lowest-scored false positive (its video has no instance of its class) leaves AP unchanged.
    if ann.classes:
        lab = ann.classes[0]
        empty = {**dets, "v_empty": [det(0, 10, lab, 0.001)]}
        ann_e = Annotations(videos={**ann.videos, **to_ann({"v_empty": []}).videos})
        np.testing.assert_allclose(ap_of(ann_e, empty, THR), base, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(ground_truth, st.data())
def test_duplicates_of_detections_are_false_positives(g, data):
    # With at most one instance per (video, class), a copy of a detection can only match the instance its
    # original already matched or could not match: appended below every score, copies leave AP unchanged.
    single = {v: list({lab: (seg, lab) for seg, lab in items}.values()) for v, items in g.items()}
    ann = to_ann(single)
    dets = random_dets(single, data)
    dup = {v: ds + [{**d, "score": d["score"] - 1.0} for d in ds] for v, ds in dets.items()}
    np.testing.assert_allclose(ap_of(ann, dup, THR), ap_of(ann, dets, THR), atol=1e-12)


def test_lowest_scored_true_positive_raises_ap():
    # Why the property above is "never lowers": a lowest-scored detection that finds an unmatched instance adds
    # recall. One TP of two instances: AP 1/2; adding a lowest-scored TP for the other: AP 1.
    ann = gt({"v": [(0, 10, "A"), (20, 30, "A")]})
    dets = {"v": [det(0, 10, "A", 0.9)]}
    assert ap_of(ann, dets, [0.5])[0, 0] == pytest.approx(0.5)
    assert ap_of(ann, {"v": [*dets["v"], det(20, 30, "A", 0.01)]}, [0.5])[0, 0] == pytest.approx(1.0)


def test_thumos14_skeleton_perfect_and_excluded():
    from importlib.resources import files

    from cotal.data.annotations import load_annotations
    from cotal.evaluate import THUMOS14_BROKEN_TEST_VIDEOS

    ann = load_annotations(files("cotal.data") / "skeletons" / "thumos14.json")
    dets = {
        v: [det(s, e, lab, 1.0) for (s, e), lab in zip(ann[v].segments.tolist(), ann[v].labels, strict=True)]
        for v in ann.ids("test")
    }
    res = evaluate_detections(ann, dets, "thumos14", subset="test", exclude_videos=THUMOS14_BROKEN_TEST_VIDEOS)
    assert len(res.classes) == 20 and res.average_map == pytest.approx(1.0)
    present = [v for v in THUMOS14_BROKEN_TEST_VIDEOS if v in ann]
    assert res.num_videos == len(ann.ids("test")) - len(present)
    assert res.dropped["not_evaluated_video"] == sum(len(dets[v]) for v in present)
