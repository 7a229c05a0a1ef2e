"""Fault suite, class 4: operating-system errors, encodings, absurd values, malformed run files and bugs
all end in ONE line on stderr and a non-zero exit; no traceback reaches the user."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cotal.cli.data as cli_data
from cotal.utils.marker import write_marker
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "data", num_videos=6)


def test_bad_encoding_and_folder_for_file(data: Path, capsys: pytest.CaptureFixture) -> None:
    ann = data / "annotations.json"
    ann.write_bytes(b'{"database": {"caf\xe9": {}}}')  # latin-1, not UTF-8
    code, _, err = run_cli(capsys, "data", "info", data)
    assert code == 2
    one_line_error(err, str(ann), "not UTF-8", "0xe9")
    ann.unlink()
    ann.mkdir()
    code, _, err = run_cli(capsys, "data", "info", data)
    assert code == 2
    one_line_error(err, str(ann), "is a folder")


def test_writing_under_a_file_or_onto_a_folder(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "afolder").mkdir()
    before = snapshot(tmp_path)
    for out, needle in (
        (tmp_path / "afile" / "c.json", "is a file, not a folder"),
        (tmp_path / "afolder", "is a folder"),
    ):
        code, _, err = run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", out)
        assert code == 2
        one_line_error(err, needle)
    assert snapshot(tmp_path) == before


def test_full_disk_is_one_line_and_leaves_no_partial_file(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", tmp_path / "c.json")
    assert code == 2
    one_line_error(err, "No space left on device")
    assert snapshot(tmp_path) == before


def test_read_only_folder(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path / "ro"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # root ignores chmod, so refuse the way the kernel would
    code, _, err = run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", tmp_path / "ro" / "c.json")
    assert code == 2
    one_line_error(err, str(tmp_path / "ro"), "Permission denied")


@pytest.mark.parametrize(
    "setting, needle",
    [("pipeline.rounds=-1", "rounds"), ("train.lr=1e999", "lr"), ("model.base_dim=100000000000", "memory")],
)
def test_absurd_numbers(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture, setting: str, needle: str) -> None:
    # --quiet: without it the run's progress log lines share stderr with the error line.
    code, _, err = run_cli(
        capsys, "fit", "--data", data, "--out", tmp_path / "run", "--clusters", "2", "--quiet", "--set", setting
    )
    assert code == 2
    one_line_error(err, needle)


@pytest.mark.parametrize("content", ["[1, 2]", '{"invocations": 5}', "{not json", "\xff"])
def test_malformed_run_files(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture, content: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write_marker(run, "run")
    (run / "run.json").write_text(content, encoding="latin-1")
    args = ["fit", "--data", data, "--out", run, "--clusters", "2", "--epochs", "1"]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    one_line_error(err, "run.json")


def test_internal_error_is_one_line_with_the_traceback_in_a_file(
    data: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(root, scan_values=True):
        raise TypeError("an unexpected bug")

    monkeypatch.setattr(cli_data, "check_dataset", bug)
    code, _, err = run_cli(capsys, "data", "check", data)
    assert code == 3
    line = one_line_error(err, "internal error", "TypeError: an unexpected bug", "traceback in")
    report = Path(line.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in report.read_text() and "an unexpected bug" in report.read_text()
    report.unlink()
    code, _, err = run_cli(capsys, "--debug", "data", "check", data)
    assert code == 3 and "Traceback" in err


def test_broken_pipe(data: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cotal", "data", "info", str(data), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # the reader went away (`cotal ... | head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    one_line_error(err, "pipe closed")


def test_outputs_get_the_usual_permissions(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cotal.utils import io

    assert run_cli(capsys, "cluster", "--data", data, "--clusters", "2", "--out", tmp_path / "c.json")[0] == 0
    # what open() would give (0644 under the usual umask 022), not mkstemp's 0600
    assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o666 & ~io.UMASK


def test_a_file_given_for_a_folder_and_a_text_file_for_an_archive(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ann = data / "annotations.json"
    for args, needle in (
        (["data", "info", ann], "is a file, not a dataset folder"),
        (["cluster", "--data", ann, "--clusters", "2", "--out", tmp_path / "c.json"], "is a file, not a dataset"),
        (["cluster", "--data", data, "--clusters", "2", "--attention", ann, "--out", tmp_path / "c.json"], "zip"),
    ):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, str(ann), needle)
    assert run_cli(capsys, "data", "check", ann)[0] == 1


@pytest.mark.parametrize("fps", [0.0, -1.0, float("nan"), 1e308])
def test_extract_refuses_absurd_frame_rates(fps: float) -> None:
    from cotal.errors import ConfigError
    from cotal.features.extract import ExtractConfig

    with pytest.raises(ConfigError, match="fps must be a number in"):
        ExtractConfig(fps=fps).validate()
