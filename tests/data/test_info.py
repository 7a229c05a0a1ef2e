"""dataset_info / `cotal data info`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.data import FeatureDataset, dataset_info


def test_info_statistics_match_the_files(toy_dataset: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    lengths = [np.load(toy_dataset / f"rgb/{v}.npy").shape[0] for v in ds.video_ids()]
    info = dataset_info(toy_dataset)
    assert info["videos"] == {"test": 3, "validation": 9}
    assert info["snippets"]["total"] == sum(lengths)
    assert info["snippets"]["min"] == min(lengths) and info["snippets"]["max"] == max(lengths)
    assert info["snippets"]["median"] == float(np.median(lengths))
    assert info["feature_dims"] == {"rgb": [8], "flow": [8]}
    assert info["classes"] == {"count": 3, "instances": {"class_0": 4, "class_1": 4, "class_2": 4}}
    seg = np.array([ds.annotation(v).segments[0] for v in ds.video_ids()])
    assert info["segments"]["count"] == 12
    assert info["segments"]["length"]["mean"] == pytest.approx(float(np.mean(seg[:, 1] - seg[:, 0])))
    ann = [ds.annotation(v) for v in ds.video_ids()]
    cov = [(a.segments[0, 1] - a.segments[0, 0]) / a.duration for a in ann]
    assert info["segments"]["coverage"]["median"] == pytest.approx(float(np.median(cov)))
    assert info["multi_label_videos"] == 0


def test_coverage_uses_the_union_clipped_to_the_video_and_counts_multilabel(toy_dataset: Path) -> None:
    db = json.loads((toy_dataset / "annotations.json").read_text())
    entry = db["database"]["video_0000"]
    d = entry["duration"]
    entry["annotations"] = [
        {"segment": [0.0, d / 2], "label": "class_0"},
        {"segment": [d / 4, d / 2], "label": "class_1"},  # overlaps the first: counted once
        {"segment": [d - 1.0, d + 5.0], "label": "class_1"},  # past the end: clipped
    ]
    (toy_dataset / "annotations.json").write_text(json.dumps(db))
    info = dataset_info(toy_dataset)
    assert info["multi_label_videos"] == 1
    assert info["segments"]["coverage"]["max"] == pytest.approx(0.5 + 1.0 / d)


def test_cli_info_text_and_json(toy_dataset: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "info", str(toy_dataset)]) == 0
    text = capsys.readouterr().out
    assert "videos: test 3, validation 9" in text and "class_2: 4 instances" in text
    assert main(["data", "info", "--json", str(toy_dataset)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(dataset_info(toy_dataset)))


def test_cli_info_on_a_broken_dataset_exits_2(toy_dataset: Path, capsys: pytest.CaptureFixture) -> None:
    (toy_dataset / "annotations.json").write_text("{")
    assert main(["data", "info", str(toy_dataset)]) == 2
    assert "annotations.json: not valid JSON" in capsys.readouterr().err
