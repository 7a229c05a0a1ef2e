"""Fault suite, class 5: `cotal eval` parses detections into compact arrays with bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import cotal.evaluate.compact as compact
from cotal.data import Annotations
from cotal.errors import DataError
from cotal.evaluate import evaluate_detections
from cotal.evaluate.compact import apply_mapping_arrays, read_detection_arrays, write_generated_detections
from cotal.evaluate.formats import detections_to_arrays, read_detections
from cotal.evaluate.mapping import apply_mapping


def _same(a, b) -> None:
    assert a.video_ids == b.video_ids and a.labels == b.labels
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.segments, b.segments)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])  # refills inside keys, numbers and lists
def test_compact_parse_equals_json_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(compact, "CHUNK_CHARS", chunk)
    path = write_generated_detections(tmp_path / "d.json", videos=7, per_video=5)
    doc = json.loads(path.read_text())
    doc["external_data"] = {"used": False, "details": [1.5, {"x": "}"}]}
    doc["results"]['v \u00e9 "quoted"'] = []  # escapes in a key
    path.write_text(json.dumps(doc, indent=2))
    _same(read_detection_arrays(path), detections_to_arrays(read_detections(path)))


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"results": {"a": [], "a": []}}', "listed twice"),
        ('{"results": {"a": [{"segment": [1, 2], "label": "x", "score": 0.5}', "not valid JSON"),
        ('{"results": {"a": [{"segment": [1, 2], "label": "x"}]}}', "video 'a' detection 0: missing 'score'"),
        ('{"results": {"a": []}} trailing', "extra data"),
        ('{"version": 1}', "'results'"),
        ("[]", "'results'"),
        ("   ", "empty"),
    ],
)
def test_compact_parse_errors_are_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(DataError, match=needle) as err:
        read_detection_arrays(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_mapping_on_arrays_equals_mapping_on_dicts(tmp_path: Path) -> None:
    path = write_generated_detections(tmp_path / "d.json", videos=4, per_video=6)
    mapping = {3: [("Diving", 1.0), ("CliffDiving", 0.5)], 7: [("Run", 0.9)]}
    _same(
        apply_mapping_arrays(read_detection_arrays(path), mapping),
        detections_to_arrays(apply_mapping(read_detections(path), mapping)),
    )


def test_eval_memory_stays_below_four_times_the_file(tmp_path: Path) -> None:
    path = write_generated_detections(tmp_path / "d.json", videos=60, per_video=1000)  # ~4 MB, 60k detections
    gt = {
        f"video_{v:06d}": {
            "subset": "test",
            "duration": 120.0,
            "annotations": [{"segment": [10.0 + c, 20.0 + c], "label": str(c)} for c in range(20)],
        }
        for v in range(60)
    }
    annotations = Annotations.from_json({"database": gt})
    size = path.stat().st_size
    tracemalloc.start()
    try:
        result = evaluate_detections(annotations, read_detection_arrays(path), "thumos14")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.num_predictions.sum() == 60_000
    assert peak < 4 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
