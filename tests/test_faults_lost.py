"""Fault suite, class 2: nothing lost (foreign folders, overlapping targets, concurrent runs, interruption)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig
from cotal.utils.outdir import MARKER, locked, write_marker
from tests.extras import needs_extra
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_fit_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"my": "numbers"}')
    (mine / "clusters.json").write_text("{}")
    before = snapshot(tmp_path)
    for out in (mine, data, data / "rgb", tmp_path):  # foreign files; the input itself, inside it, around it
        code, _, err = run_cli(capsys, "fit", "--data", data, "--out", out, "--clusters", "2")
        assert code == 2
        one_line_error(err, str(out))
    assert snapshot(tmp_path) == before


def test_a_locked_run_folder_refuses_a_second_writer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    run = tmp_path / "run"
    write_marker(run, "run")
    with locked(run):  # what a running `cotal fit` holds
        before = snapshot(tmp_path)
        code, _, err = run_cli(capsys, "fit", "--data", data, "--out", run, "--clusters", "2")
        assert code == 2
        one_line_error(err, "another cotal process", f"pid {os.getpid()}")
        assert snapshot(tmp_path) == before
    with locked(run):  # released when the holder ends
        pass


@needs_extra("extract")
def test_extract_refuses_to_replace_a_foreign_dataset(tmp_path: Path) -> None:
    from cotal.features.extract import extract_features

    data = write_toy_dataset(tmp_path / "data", num_videos=6)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="did not make"):
        extract_features([tmp_path / "new.mp4"], data, ExtractConfig(progress=False))
    assert snapshot(tmp_path) == before


def test_convert_overwrite_only_replaces_a_dataset_cotal_made(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.faults_helpers import write_um

    write_um(tmp_path / "src")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    code, _, err = run_cli(
        capsys, "data", "convert", tmp_path / "src", "--layout", "um", "--out", tmp_path / "mine", "--overwrite"
    )
    assert code == 2
    one_line_error(err, MARKER, "delete it yourself")
    assert snapshot(tmp_path) == before


def _synth_cmd(out: Path, videos: int) -> list[str]:
    return [sys.executable, "-m", "cotal", "synth", "--out", str(out), "--videos", str(videos), "--dim", "256"]


def _staging(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]


def _start_and_wait_for_staging(tmp_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(_synth_cmd(out, 20000), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _staging(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _staging(tmp_path), "the staging folder never appeared"
    return proc


@pytest.mark.slow
def test_sigterm_removes_the_staging_folder(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = _start_and_wait_for_staging(tmp_path, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    one_line_error(err, "terminated")
    assert not out.exists() and not _staging(tmp_path)


@pytest.mark.slow
def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ds"
    proc = _start_and_wait_for_staging(tmp_path, out)
    proc.kill()
    proc.wait(timeout=60)
    left = _staging(tmp_path)
    assert left  # SIGKILL cannot be caught: the folder stays ...
    code, _, err = run_cli(capsys, "synth", "--out", out, "--videos", "4", "--classes", "2", "--dim", "8")
    assert code == 0 and "left by an interrupted earlier run" in err  # ... until the next run on the target
    assert not _staging(tmp_path) and (out / MARKER).is_file()


def test_data_split_is_staged_and_never_writes_into_its_source(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cotal.data import FeatureDataset

    data = write_toy_dataset(tmp_path / "data", num_videos=12)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "data", "split", data, "--out", data / "val")
    assert code == 2
    one_line_error(err, "overlaps the input")
    code, _, err = run_cli(capsys, "data", "split", data, "--out", tmp_path / "val", "--fraction", "0.01")
    assert code == 2  # too few videos: nothing written
    assert snapshot(tmp_path) == before
    assert run_cli(capsys, "data", "split", data, "--out", tmp_path / "val")[0] == 0
    assert (tmp_path / "val" / MARKER).is_file() and FeatureDataset(tmp_path / "val").train_ids
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_claiming_a_run_removes_temporaries_of_killed_writers_only(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from cotal.utils.outdir import run_folder

    dead = subprocess.Popen(["true"])
    dead.wait()
    run = tmp_path / "run"
    write_marker(run, "run")
    (run / "round_1").mkdir()
    stale = [run / f".metrics.json.{dead.pid}.abc123.tmp", run / "round_1" / f".model.pt.{dead.pid}.x_y.tmp"]
    live = run / f".log.txt.{os.getpid()}.zz.tmp"  # a writer that still runs
    for p in [*stale, live]:
        p.write_text("partial")
    with run_folder(run):
        pass
    assert not any(p.exists() for p in stale) and live.exists()
    assert capsys.readouterr().err.count("left by an interrupted earlier run") == 2


def test_a_run_folder_from_before_the_marker_resumes_but_look_alikes_do_not(tmp_path: Path) -> None:
    from cotal.utils.io import write_json
    from cotal.utils.outdir import check_target

    old = tmp_path / "old_run"
    old.mkdir()
    (old / "config.yaml").write_text("pipeline: {}\n")
    write_json(old / "run.json", {"invocations": [], "versions": {"cotal": "0.1"}})
    assert check_target(old, "run") == old.resolve()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: settings\n")
    (mine / "run.json").write_text('{"my": "run"}')
    with pytest.raises(ConfigError, match="not a cotal run folder"):
        check_target(mine, "run")


def test_single_file_outputs_never_overwrite_an_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cotal.utils.io import write_json

    data = write_toy_dataset(tmp_path / "data", num_videos=8)
    dets = tmp_path / "dets.json"
    write_json(dets, {"results": {}})
    run = tmp_path / "run"
    write_json(run / "final.json", {})
    before = snapshot(tmp_path)
    for args in (
        ["cluster", "--data", data, "--clusters", "2", "--out", data / "annotations.json"],
        ["detect", "--run", run, "--data", data, "--out", run / "final.json"],
        ["eval", "--data", data, "--detections", dets, "--out", dets],
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, "would overwrite the input")
    assert snapshot(tmp_path) == before
    code, _, _ = run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", data / "clusters.json")
    assert code == 0  # a new file beside the inputs is fine
