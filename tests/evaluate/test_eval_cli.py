"""``cotal eval`` end to end on the toy dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotal.cli.main import main
from cotal.data.annotations import load_annotations
from cotal.evaluate import write_clusters, write_detections


def gt_detections(data: Path, subset: str, label_of=lambda lab: lab) -> dict:
    ann = load_annotations(data / "annotations.json")
    return {
        v: [
            {"segment": list(seg), "label": label_of(lab), "score": 0.9}
            for seg, lab in zip(ann[v].segments.tolist(), ann[v].labels, strict=True)
        ]
        for v in ann.ids(subset)
    }


def test_eval_perfect_detections_writes_json(toy_dataset, tmp_path, capsys):
    dets = tmp_path / "dets.json"
    write_detections(dets, gt_detections(toy_dataset, "test"))
    out = tmp_path / "metrics.json"
    rc = main(
        ["eval", "--data", str(toy_dataset), "--detections", str(dets), "--tiou", "0.3", "0.5", "--out", str(out)]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "mAP (%)" in text and "100.00" in text
    report = json.loads(out.read_text())
    assert report["subset"] == "test"  # the dataset's test subset by default
    assert report["detection"]["tiou_thresholds"] == [0.3, 0.5]
    assert report["detection"]["map_per_tiou"] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_eval_accepts_annotation_json_and_names_unknowns(toy_dataset, tmp_path, capsys):
    d = gt_detections(toy_dataset, "test")
    d["not_a_video"] = [{"segment": [0, 1], "label": "class_0", "score": 0.5}]
    first = next(iter(d))
    d[first].append({"segment": [0, 1], "label": "mystery", "score": 0.99})
    dets = tmp_path / "dets.json"
    write_detections(dets, d)
    rc = main(
        ["eval", "--data", str(toy_dataset / "annotations.json"), "--detections", str(dets), "--subset", "test",
         "--preset", "activitynet", "--per-class", "--out", str(tmp_path / "m.json")]
    )  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "not_a_video" in text and "mystery" in text and "class_0" in text
    report = json.loads((tmp_path / "m.json").read_text())["detection"]
    assert report["unknown_videos"] == ["not_a_video"] and report["unknown_labels"] == ["mystery"]
    assert len(report["tiou_thresholds"]) == 10


def test_eval_maps_cluster_ids_with_training_assignments(toy_dataset, tmp_path, capsys):
    ann = load_annotations(toy_dataset / "annotations.json")
    cluster_of = {"class_0": 2, "class_1": 0, "class_2": 1}
    # Assignments for every video: only the training ones may build the mapping.
    clusters = tmp_path / "clusters.json"
    write_clusters(clusters, {v: cluster_of[ann[v].labels[0]] for v in ann.ids()})
    dets = tmp_path / "dets.json"
    write_detections(dets, gt_detections(toy_dataset, "test", label_of=lambda lab: str(cluster_of[lab])))
    out = tmp_path / "m.json"
    args = ["eval", "--data", str(toy_dataset), "--detections", str(dets), "--tiou", "0.5", "--out", str(out)]

    assert main(args) == 0  # without --clusters: labels are unknown, and the CLI says why
    text = capsys.readouterr().out
    assert "unknown labels: 0, 1, 2" in text and "--cluster-file" in text

    assert main([*args, "--cluster-file", str(clusters), "--mapping", "hungarian", "--overwrite"]) == 0
    report = json.loads(out.read_text())
    assert report["detection"]["map_per_tiou"] == [pytest.approx(1.0)]
    assert report["mapping"]["num_train_videos"] == len(ann.ids("validation"))
    assert report["mapping"]["clusters"]["2"] == [["class_0", 1.0]]
    assert report["clustering_train"]["purity"] == pytest.approx(1.0)


def test_eval_errors_exit_2_with_one_line(toy_dataset, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"video_0000": [{"segment": [5, 1], "label": "class_0", "score": 1}]}}))
    assert main(["eval", "--data", str(toy_dataset), "--detections", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json" in err and "video_0000" in err
    good = tmp_path / "good.json"
    write_detections(good, {})
    assert main(["eval", "--data", str(toy_dataset), "--detections", str(good), "--subset", "nope"]) == 2
    assert "no videos in subset 'nope'" in capsys.readouterr().err
    clusters = tmp_path / "c.json"
    write_clusters(clusters, {"video_0011": 0})  # a test video only: no training assignment
    assert main(["eval", "--data", str(toy_dataset), "--detections", str(good), "--cluster-file", str(clusters)]) == 2
    assert "training videos" in capsys.readouterr().err
