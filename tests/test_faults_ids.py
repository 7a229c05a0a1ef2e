"""Fault suite, class 1: a video id is data, never a path; paths read from run files stay inside the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cotal.config import load_config
from cotal.data import FeatureDataset, convert_dataset
from cotal.data.ids import check_video_id, id_of_file, id_problem, video_file
from cotal.errors import DataError
from cotal.features.inputs import find_videos
from cotal.utils.io import write_json, write_yaml
from tests.faults_helpers import one_line_error, run_cli, snapshot, write_um, write_wtalc
from tests.toy_data import write_toy_dataset

HOSTILE = ["../../outside/secret", "/abs/path", "..", ".hidden", "a\\b", "c:d", "x\x00y", "tab\there", " pad", ""]
HOSTILE += ["é" * 101, "x" * 201]  # too long for a file name once ".npy" and a temporary suffix are added


@pytest.mark.parametrize("vid", HOSTILE)
def test_hostile_ids_are_refused(vid: str) -> None:
    assert id_problem(vid) is not None
    with pytest.raises(DataError, match="video id"):
        video_file("/data/rgb", vid)


@pytest.mark.parametrize("vid", ["video_test_0000004", "v_-0a3B_x", "my video (2)", "clip+1=2@x,y", "Über"])
def test_ordinary_ids_map_to_a_file_in_the_folder(vid: str) -> None:
    path = video_file("/data/rgb", vid)
    assert path.parent == Path("/data/rgb") and id_of_file(path) == vid
    assert check_video_id(vid, "x") == vid


def _hostile_dataset(tmp_path: Path, vid: str) -> Path:
    """A toy dataset plus one annotated video whose id points at a valid feature file outside it."""
    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    secret = (tmp_path / "data" / "rgb" / f"{vid}.npy").resolve() if not vid.startswith("/") else Path(vid + ".npy")
    if not vid.startswith("/"):
        secret.parent.mkdir(parents=True, exist_ok=True)
        np.save(secret, np.ones((20, 8), np.float32))
    doc = json.loads((data / "annotations.json").read_text())
    doc["database"][vid] = {"subset": "validation", "duration": 12.8, "annotations": []}
    (data / "annotations.json").write_text(json.dumps(doc))
    return data


def _fake_run(run: Path, models: dict) -> Path:
    """The files `cotal detect` reads before any model: config.yaml and final.json."""
    write_yaml(run / "config.yaml", load_config(None).to_dict())
    write_json(run / "final.json", {"supervision": "none", "class_names": ["0", "1"], "models": models})
    return run


@pytest.mark.parametrize("vid", ["../../outside/secret", "../flow/video_0000"])
def test_every_command_refuses_a_path_as_video_id(tmp_path: Path, capsys: pytest.CaptureFixture, vid: str) -> None:
    data = _hostile_dataset(tmp_path, vid)
    run = _fake_run(tmp_path / "run", {"rgb": "m.pt", "flow": "m.pt"})
    before = snapshot(tmp_path)
    for args in (
        ["data", "info", data],
        ["cluster", "--data", data, "--clusters", "2", "--out", tmp_path / "c.json"],
        ["fit", "--data", data, "--out", tmp_path / "newrun", "--clusters", "2"],
        ["detect", "--run", run, "--data", data, "--out", tmp_path / "d.json"],
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2, (args, err)
        one_line_error(err, "annotations.json", "video id", "not a path")
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1 and "video id" in out and "not a path" in out
    assert snapshot(tmp_path) == before


def test_detect_refuses_model_paths_outside_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    (tmp_path / "outside.pt").write_bytes(b"not read")
    for bad in ("../outside.pt", str(tmp_path / "outside.pt"), 7):
        run = _fake_run(tmp_path / "run", {"rgb": bad, "flow": "round_1/model_flow/model.pt"})
        code, _, err = run_cli(capsys, "detect", "--run", run, "--data", data, "--out", tmp_path / "d.json")
        assert code == 2
        one_line_error(err, "final.json")
    write_json(tmp_path / "run" / "final.json", ["not", "an", "object"])
    code, _, err = run_cli(capsys, "detect", "--run", tmp_path / "run", "--data", data, "--out", tmp_path / "d.json")
    assert code == 2 and "malformed" in one_line_error(err, "final.json")
    assert not (tmp_path / "d.json").exists()


def test_wtalc_names_cannot_write_outside_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = write_wtalc(tmp_path / "src")
    names = list(gt["names"])
    names[1] = "../../escaped"
    ann = tmp_path / "src" / "Thumos14reduced-Annotations"
    np.save(ann / "videoname.npy", np.array([n.encode() for n in names]))
    before = snapshot(tmp_path)
    code, _, err = run_cli(
        capsys, "data", "convert", tmp_path / "src", "--layout", "wtalc", "--allow-pickle", "--out", tmp_path / "out"
    )
    assert code == 2
    one_line_error(err, "videoname.npy", "'../../escaped'")
    assert snapshot(tmp_path) == before


def test_um_split_ids_cannot_read_or_write_outside(tmp_path: Path) -> None:
    write_um(tmp_path / "src")
    (tmp_path / "src" / "split_test.txt").write_text("video_test_1\n../../../../secret\n")
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match=r"split_test\.txt: video id '\.\./"):
        convert_dataset(tmp_path / "src", tmp_path / "out", "um")
    assert snapshot(tmp_path) == before


def test_checker_and_loader_resolve_the_same_file(tmp_path: Path) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    ds = FeatureDataset(data)
    for vid in ds.video_ids():
        assert ds.feature_path(vid, "rgb") == video_file(data / "rgb", vid)


def test_extract_skips_a_video_whose_name_is_no_id(tmp_path: Path) -> None:
    (tmp_path / "ok.mp4").write_bytes(b"")
    (tmp_path / ".hidden.mp4").write_bytes(b"")
    videos, problems = find_videos([tmp_path / "ok.mp4", tmp_path / ".hidden.mp4"])
    assert list(videos) == ["ok"]
    assert problems and "'.hidden'" in problems[0][1]
