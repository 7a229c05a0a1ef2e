"""Fault suite, class 2 (continued): --overwrite deletes only what cotal can prove it made, under the run lock;
outputs never replace a file cotal did not write; no write follows a symbolic link out of a run or dataset."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cotal.utils.marker import MARKER, deletion_problem, read_marker
from cotal.utils.outdir import locked, write_marker
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset

SYNTH = ["--videos", "4", "--classes", "2", "--dim", "8"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "data", num_videos=6)


def _user_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text("my: settings\n")
    (folder / "thesis.tex").write_text("years of work")
    (folder / "src").mkdir()
    (folder / "src" / "main.py").write_text("print('mine')")
    return folder


def test_fit_overwrite_never_deletes_a_users_folder(data: Path, tmp_path: Path, capsys) -> None:
    proj = _user_project(tmp_path / "userproj")
    (tmp_path / "run.json").write_text('{"versions": {"cotal": "0.1"}, "invocations": []}')
    shutil.copy(tmp_path / "run.json", proj / "run.json")  # looks like a run without its marker, holds thesis.tex
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", proj, "--overwrite", "--quiet")
    assert code == 2
    one_line_error(err, str(proj), "was not written there by cotal")  # no marker, no deletion
    assert snapshot(tmp_path) == before


def test_a_copied_run_is_resumed_but_never_deleted(data: Path, tmp_path: Path, capsys) -> None:
    tiny = ["--clusters", "2", "--rounds", "1", "--epochs", "1", "--no-report", "--quiet"]
    assert run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "run", *tiny)[0] == 0
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "run", copy)  # a backup restored elsewhere: its marker names another folder
    assert read_marker(copy) is None
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", copy, "--overwrite", *tiny)
    assert code == 2
    one_line_error(err, str(copy), "was not written there by cotal")
    assert snapshot(tmp_path) == before
    assert run_cli(capsys, "fit", "--data", data, "--out", copy, *tiny)[0] == 0  # resumed (already finished)
    assert read_marker(copy) is not None


@pytest.mark.parametrize("how", ["copied", "symlinked", "hand-written"])
def test_a_marker_counts_only_where_cotal_wrote_it(tmp_path: Path, capsys, how: str) -> None:
    assert run_cli(capsys, "synth", "--out", tmp_path / "ds", *SYNTH)[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "annotations.json").write_text("my ground truth")
    if how == "copied":
        shutil.copy(tmp_path / "ds" / MARKER, mine / MARKER)
    elif how == "symlinked":
        (mine / MARKER).symlink_to(tmp_path / "ds" / MARKER)
    else:
        (mine / MARKER).write_text('{"kind": "dataset", "made": ["annotations.json"]}')
    assert read_marker(mine) is None and read_marker(tmp_path / "ds") is not None
    before = snapshot(tmp_path)
    for args in (
        ["synth", "--out", mine, *SYNTH, "--overwrite"],
        ["data", "convert", tmp_path / "ds", "--layout", "um", "--out", mine, "--overwrite"],
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, str(mine), MARKER, "delete it yourself")
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_a_cotal_folder_only_while_it_holds_nothing_else(tmp_path: Path, capsys) -> None:
    ds = tmp_path / "ds"
    assert run_cli(capsys, "synth", "--out", ds, *SYNTH)[0] == 0
    (ds / "rgb" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "synth", "--out", ds, *SYNTH, "--seed", "1", "--overwrite")
    assert code == 2
    one_line_error(err, "rgb/notes.txt", "cotal did not make")
    assert snapshot(tmp_path) == before
    (ds / "rgb" / "notes.txt").unlink()
    assert run_cli(capsys, "synth", "--out", ds, *SYNTH, "--seed", "1", "--overwrite")[0] == 0
    assert deletion_problem(ds, "dataset") is None


def test_overwrite_never_takes_an_input_with_it(data: Path, tmp_path: Path, capsys) -> None:
    ds = tmp_path / "ds"
    assert run_cli(capsys, "synth", "--out", ds, *SYNTH)[0] == 0
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "config.yaml").write_text("train: {epochs: 1}\n")
    before = snapshot(tmp_path)
    for args in (
        ["synth", "--out", ds, "--skeleton", ds / "annotations.json", "--overwrite"],
        ["fit", "--data", data, "--out", data, "--overwrite"],
        ["fit", "--data", data, "--out", run, "--config", run / "config.yaml", "--overwrite"],
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, "overlaps the input")
    assert snapshot(tmp_path) == before


def test_demo_overwrite_checks_every_part(tmp_path: Path, capsys) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "demo.json").write_text('{"videos": 16, "classes": 2, "dim": 16, "seed": 0}')
    (demo / "data").mkdir()
    (demo / "data" / "thesis.tex").write_text("years of work")
    write_marker(demo, "demo")
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "demo", "--out", demo, "--videos", "16", "--classes", "3", "--overwrite")
    assert code == 2
    one_line_error(err, "data:", "delete it yourself")
    assert snapshot(tmp_path) == before


def test_overwrite_waits_for_no_one(data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "metrics.json").write_text("{}")
    with locked(run):  # another `cotal fit` writing this run
        before = snapshot(tmp_path)
        code, _, err = run_cli(capsys, "fit", "--data", data, "--out", run, "--overwrite", "--quiet")
        assert code == 2
        one_line_error(err, "another cotal process", f"pid {os.getpid()}")
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize("link", [".cotal.lock", "log.txt", "round_0", "round_0/model_rgb"])
def test_no_write_follows_a_link_out_of_a_run(data: Path, tmp_path: Path, capsys, link: str) -> None:
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "round_0").mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    target = victim / "precious.txt" if "." in link else victim
    shutil.rmtree(run / link, ignore_errors=True)
    (run / link).symlink_to(target)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", run, "--clusters", "2", "--quiet")
    assert code == 2
    one_line_error(err, link, "symbolic link")
    assert snapshot(tmp_path) == before


def test_extract_never_writes_through_a_link_out_of_its_dataset(tmp_path: Path, capsys) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=12)
    assert run_cli(capsys, "data", "split", data, "--out", tmp_path / "split")[0] == 0  # rgb/ links to data/rgb
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "extract", tmp_path / "v.mp4", "--out", tmp_path / "split", "--quiet")
    assert code == 2
    one_line_error(err, "symbolic link leads out of the dataset")
    assert snapshot(tmp_path) == before


def test_single_file_outputs_replace_only_with_overwrite(data: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}')
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "metrics.json").write_text("{}")
    dets = tmp_path / "dets.json"
    dets.write_text('{"results": {}}')
    before = snapshot(tmp_path)
    for args, needle in (
        (["cluster", "--data", data, "--clusters", "2", "--out", mine], "pass --overwrite"),
        (["eval", "--data", data, "--detections", dets, "--out", mine], "pass --overwrite"),
        (["detect", "--run", run, "--data", data, "--out", mine], "pass --overwrite"),
        (["eval", "--data", data, "--detections", dets, "--out", run / "metrics.json", "--overwrite"], "belongs to"),
        (["cluster", "--data", data, "--clusters", "2", "--out", data / "dataset.yaml", "--overwrite"], "input"),
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, needle)
    assert snapshot(tmp_path) == before
    code, _, _ = run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", mine, "--overwrite")
    assert code == 0 and "my" not in mine.read_text()


def _fake_run(run: Path) -> None:
    import torch

    from cotal.model import save_model
    from cotal.model.coattention import CoAttentionModel, ModelConfig
    from cotal.utils.io import write_json

    torch.manual_seed(0)
    model = CoAttentionModel(4, 2, ModelConfig(base_dim=8)).eval()
    save_model(run / "round_0" / "model_rgb" / "model.pt", model, stream="rgb", step=1)
    final = {"supervision": "none", "class_names": ["0", "1"], "models": {"rgb": "round_0/model_rgb/model.pt"}}
    write_json(run / "final.json", final)


def test_export_writes_only_where_nothing_would_be_lost(data: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    run = tmp_path / "run"
    _fake_run(run)
    mine = tmp_path / "onnx"
    mine.mkdir()
    (mine / "rgb.onnx").write_text("my own model")
    before = snapshot(tmp_path)
    for out, needle in ((mine, "not empty"), (data, "not empty"), (run / "onnx", "overlaps the input")):
        code, _, err = run_cli(capsys, "export", run, "--onnx", out)
        assert code == 2
        one_line_error(err, needle)
    code, _, err = run_cli(capsys, "export", run, "--onnx", mine, "--overwrite")
    assert code == 2
    one_line_error(err, MARKER, "delete it yourself")
    assert snapshot(tmp_path) == before
    out = tmp_path / "exported"
    assert run_cli(capsys, "export", run, "--onnx", out)[0] == 0
    assert run_cli(capsys, "export", run, "--onnx", out, "--overwrite")[0] == 0  # its own folder: replaced
    assert deletion_problem(out, "export") is None


def test_a_killed_runs_temporaries_do_not_block_overwrite(tmp_path: Path) -> None:
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "round_0" / "model_rgb").mkdir(parents=True)
    (run / "round_0" / "model_rgb" / f".model.pt.{dead.pid}.x.tmp").write_text("partial")
    assert deletion_problem(run, "run") is None
    (run / "round_0" / f".model.pt.{os.getpid()}.x.tmp").write_text("being written")  # a live writer's file
    assert "cotal did not make" in deletion_problem(run, "run")
