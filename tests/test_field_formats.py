"""Detections other tools read unchanged: ActivityNet/DETAD results files, cluster or class names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.config import load_config
from cotal.evaluate import evaluate_detections, read_detections
from cotal.pipeline import fit
from cotal.utils.io import read_json, write_json
from tests.anet_reader import official_evaluation, read_as_activitynet

TINY = {
    "pipeline": {"clusters": 3, "rounds": 1},
    "model": {"base_dim": 16},
    "train": {"epochs": 3, "batch_size": 6, "device": "cpu"},
}


@pytest.fixture(scope="module")
def unsup(tmp_path_factory):
    from tests.toy_data import write_toy_dataset

    root = tmp_path_factory.mktemp("formats")
    data = write_toy_dataset(root / "data", num_videos=18)
    fit(data, root / "run", load_config(None, TINY), progress=False)
    return data, root / "run"


def test_run_detections_carry_version_and_external_data(unsup):
    _, run = unsup
    raw = read_json(run / "detections_test.json")
    assert {"version", "external_data", "results"} <= set(raw)
    assert isinstance(raw["external_data"]["used"], bool)


def test_detect_writes_cluster_names_that_eval_maps(unsup, tmp_path, capsys):
    data, run = unsup
    out = tmp_path / "d.json"
    assert main(["detect", "--run", str(run), "--data", str(data), "--subset", "test", "--out", str(out)]) == 0
    labels = {d["label"] for dets in read_detections(out).values() for d in dets}
    assert labels and labels <= {"cluster_00", "cluster_01", "cluster_02"}
    capsys.readouterr()
    args = ["eval", "--data", str(data), "--detections", str(out), "--cluster-file", str(run / "clusters.json")]
    assert main([*args, "--out", str(tmp_path / "m.json")]) == 0
    # The names map exactly as the bare ids of the run's own file do.
    fit_map = read_json(run / "metrics.json")["detection"]["soft"]["map_per_tiou"]
    np.testing.assert_allclose(read_json(tmp_path / "m.json")["detection"]["map_per_tiou"], fit_map, atol=1e-9)


def _class_detections(data, run, tmp_path):
    out = tmp_path / "d.json"
    args = ["detect", "--run", str(run), "--data", str(data), "--subset", "test", "--labels", "classes"]
    assert main([*args, "--mapping", "hungarian", "--out", str(out)]) == 0
    return out


def test_detect_class_names_are_read_by_the_activitynet_reader(unsup, tmp_path):
    data, run = unsup
    out = _class_detections(data, run, tmp_path)
    index, rows = read_as_activitynet(data / "annotations.json", out, subset="test")
    assert rows and {r[3] for r in rows} <= set(index.values())


def test_official_activitynet_evaluation_reads_detect_output_unchanged(unsup, tmp_path):
    data, run = unsup
    out = _class_detections(data, run, tmp_path)
    tious = [0.1, 0.3, 0.5, 0.7]
    official = official_evaluation(data / "annotations.json", out, "test", tious)
    if official is None:
        pytest.skip("the official code (../shared/reference/anet_eval) or pandas is not installed")
    ours = evaluate_detections(load_annotations(data), read_detections(out), tious, subset="test").map_per_tiou
    np.testing.assert_allclose(ours, official, atol=1e-6)


def test_activitynet_reader_refuses_files_without_version(tmp_path, toy_dataset):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"results": {}}))
    with pytest.raises(OSError, match="prediction file"):
        read_as_activitynet(toy_dataset / "annotations.json", path, subset="test")


def test_detect_labels_refused_for_a_weak_run(tmp_path, toy_dataset, capsys):
    write_json(tmp_path / "final.json", {"supervision": "weak", "class_names": ["a"], "models": {}})
    args = ["detect", "--run", str(tmp_path), "--data", str(toy_dataset), "--labels", "classes"]
    assert main([*args, "--out", str(tmp_path / "d.json")]) == 2
    assert "weakly supervised" in capsys.readouterr().err


def load_annotations(data):
    from cotal.data import FeatureDataset

    return FeatureDataset(data).annotations


def test_detect_on_new_videos_needs_no_annotations(unsup, tmp_path):
    import shutil

    data, run = unsup
    new = tmp_path / "new"
    for stream in ("rgb", "flow"):
        (new / stream).mkdir(parents=True)
        for f in sorted((data / stream).glob("*.npy"))[:3]:
            shutil.copy(f, new / stream / f.name)
    shutil.copy(data / "dataset.yaml", new / "dataset.yaml")
    out = tmp_path / "d.json"
    assert main(["detect", "--run", str(run), "--data", str(new), "--out", str(out)]) == 0
    results = read_detections(out)
    assert len(results) == 3
    for vid, dets in results.items():
        duration = np.load(new / "rgb" / f"{vid}.npy").shape[0] * 16 / 25
        assert all(0 <= d["segment"][0] < d["segment"][1] <= duration + 1e-9 for d in dets)
