"""Temporal IoU and hard NMS on hand-made proposals."""

from __future__ import annotations

import numpy as np

from cotal.detect import nms, temporal_iou


def test_temporal_iou_values() -> None:
    a = np.array([[0.0, 10.0], [5.0, 5.0]])
    b = np.array([[5.0, 15.0], [20.0, 30.0], [0.0, 10.0], [5.0, 5.0]])
    iou = temporal_iou(a, b)
    assert iou.shape == (2, 4)
    np.testing.assert_allclose(iou[0], [5 / 15, 0.0, 1.0, 0.0])
    assert np.all(iou[1] == 0)  # zero-length segment: no NaN


def test_hard_nms_keeps_best_and_disjoint() -> None:
    segs = np.array([[0, 10], [1, 10], [20, 30], [5, 15]], dtype=float)
    scores = np.array([0.9, 0.8, 0.5, 0.7])
    # [1, 10] overlaps [0, 10] at tIoU 0.9 -> dropped; [5, 15] only 1/3 -> kept.
    np.testing.assert_array_equal(nms(segs, scores, tiou=0.65), [0, 3, 2])
    # With a threshold below 1/3 the partial overlap goes too.
    np.testing.assert_array_equal(nms(segs, scores, tiou=0.3), [0, 2])


def test_hard_nms_threshold_is_strict_and_single_proposal_survives() -> None:
    segs = np.array([[0, 10], [0, 5]], dtype=float)  # tIoU exactly 0.5
    assert len(nms(segs, np.array([1.0, 0.5]), tiou=0.5)) == 2
    assert len(nms(segs, np.array([1.0, 0.5]), tiou=0.49)) == 1
    # The authors' loop drops the last survivor; ours keeps a lone proposal.
    np.testing.assert_array_equal(nms(segs[:1], np.array([0.3]), tiou=0.65), [0])
    assert len(nms(np.zeros((0, 2)), np.zeros(0), tiou=0.65)) == 0
