"""Detection and cluster files: round trips and one-line errors that name file, video and problem."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cotal.errors import DataError
from cotal.evaluate import read_clusters, read_detections, write_clusters, write_detections
from cotal.evaluate.formats import detections_to_arrays


def test_detections_round_trip_with_optional_keys(tmp_path):
    dets = {"v1": [{"segment": [0.5, 2.0], "label": "A", "score": 0.9}], "v2": []}
    path = tmp_path / "d.json"
    write_detections(path, dets, version="VERSION 1.3", external_data={"used": False})
    raw = json.loads(path.read_text())
    assert raw["version"] == "VERSION 1.3" and raw["external_data"] == {"used": False}
    assert read_detections(path) == dets
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_detections_without_optional_keys(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"results": {"v": [{"segment": [0, 1], "label": "3", "score": 1}]}}))
    assert read_detections(path)["v"][0]["label"] == "3"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"v": []}, "'results' object"),
        ({"results": {"v": {"segment": [0, 1]}}}, "video 'v': expected a list"),
        ({"results": {"v": [{"segment": [0], "label": "A", "score": 1}]}}, "video 'v' detection 0: 'segment'"),
        ({"results": {"v": [{"segment": [0, "1"], "label": "A", "score": 1}]}}, "'segment' must be two numbers"),
        ({"results": {"v": [{"segment": [0, 1], "label": 3, "score": 1}]}}, "'label' must be a non-empty string"),
        ({"results": {"v": [{"segment": [0, 1], "label": "A", "score": True}]}}, "'score' must be a finite"),
        ({"results": {"v": [{"segment": [0, 1], "label": "A"}]}}, "detection 0: missing 'score'"),
        ({"results": {"v": ["x"]}}, "expected an object"),
    ],
)
def test_detection_errors_are_one_line_and_located(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message) as info:
        read_detections(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_invalid_json(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_detections(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        read_detections(tmp_path / "x.json")


def test_arrays_keep_input_order():
    arr = detections_to_arrays(
        {
            "b": [{"segment": [1, 2], "label": "X", "score": 0.1}],
            "a": [],
            "c": [{"segment": [3, 4], "label": "Y", "score": 2}],
        }
    )
    assert arr.video_ids == ["b", "a", "c"] and arr.labels == ["X", "Y"]
    np.testing.assert_array_equal(arr.video_index, [0, 2])
    np.testing.assert_array_equal(arr.segments, [[1, 2], [3, 4]])


def test_clusters_round_trip_and_errors(tmp_path):
    path = tmp_path / "c.json"
    write_clusters(path, {"b": 1, "a": np.int64(0)})
    assert list(json.loads(path.read_text())) == ["a", "b"]
    assert read_clusters(path) == {"a": 0, "b": 1}
    path.write_text(json.dumps({"a": 1.5}))
    with pytest.raises(DataError, match="video 'a': cluster id must be an integer"):
        read_clusters(path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(DataError, match="expected an object"):
        read_clusters(path)
