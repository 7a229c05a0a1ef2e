"""Fault suite, class 4: operating-system errors, encodings, absurd values, malformed run files and bugs
all end in ONE line on stderr and a non-zero exit; no traceback reaches the user."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cotal.cli.data as cli_data
from cotal.utils.marker import write_marker
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset

SRC = str(Path(__file__).resolve().parents[1] / "src")


def permissions_enforced(folder: Path) -> None:
    """Skip unless file permissions bind this process (root's do not: run the suite as an unprivileged user, or
    as root without capabilities: ``setpriv --bounding-set=-all --inh-caps=-all -- python -m pytest ...``)."""
    probe = folder / ".probe"
    probe.write_text("")
    probe.chmod(0o000)
    try:
        probe.read_text()
    except PermissionError:
        return
    finally:
        probe.unlink()
    pytest.skip("file permissions do not bind this process (root)")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="the permission cases run directly (not root)"
)
def test_permission_cases_as_root_without_capabilities() -> None:
    """As root, file permissions do not bind: the permission cases run again in a process without capabilities
    (``setpriv``), so CI as root still checks them."""
    tests = [str(Path(__file__).parent / name) for name in ("test_faults_os.py", "test_faults_report.py")]
    cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", sys.executable, "-m", "pytest", "-q"]
    cmd += ["-m", "permissions", "-p", "no:cacheprovider", "-rs", *tests]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


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
    from cotal.features.config import ExtractConfig

    with pytest.raises(ConfigError, match="fps must be a number in"):
        ExtractConfig(fps=fps)


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_seeds_out_of_range_are_input_errors(data: Path, tmp_path: Path, capsys, seed: str) -> None:
    before = snapshot(tmp_path)
    for args in (
        ["synth", "--out", tmp_path / "s", "--videos", "4", "--seed", seed],
        ["data", "split", data, "--out", tmp_path / "v", "--seed", seed],
        ["cluster", "--data", data, "--clusters", "2", "--out", tmp_path / "c.json", "--seed", seed],
        ["fit", "--data", data, "--out", tmp_path / "r", "--seed", seed],
    ):
        with pytest.raises(SystemExit) as exit_:  # refused while the options are read
            run_cli(capsys, *args)
        assert exit_.value.code == 2
        one_line_error(capsys.readouterr().err, "--seed", "[0, 4294967295]")
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "r", "--set", f"pipeline.seed={seed}")
    assert code == 2
    one_line_error(err, "pipeline.seed must be an integer in [0, 4294967295]")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("flag, value", [("--stride", "0"), ("--window", "-16"), ("--fps", "nan"), ("--fps", "inf")])
def test_convert_refuses_impossible_timing(tmp_path: Path, capsys, flag: str, value: str) -> None:
    from tests.faults_helpers import write_um

    write_um(tmp_path / "src")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        run_cli(
            capsys, "data", "convert", tmp_path / "src", "--layout", "um", "--out", tmp_path / "o", f"{flag}={value}"
        )
    assert exit_.value.code == 2
    one_line_error(capsys.readouterr().err, flag, "positive number")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--videos", "1000000000"], "1000000000 videos"),
        (["--videos", "4", "--dim", "1000000000"], "1000000000 dims"),
        (["--videos", "4", "--classes", "1000000000"], "of memory"),
        (["--videos", "1000000000", "--render-videos"], "of memory"),
    ],
)
def test_synth_refuses_at_once_what_the_machine_cannot_hold(tmp_path: Path, capsys, args, needle: str) -> None:
    import time

    start = time.perf_counter()
    code, _, err = run_cli(capsys, "synth", "--out", tmp_path / "s", *args)
    assert code == 2 and time.perf_counter() - start < 5
    one_line_error(err, needle, "need about")
    assert not list(tmp_path.iterdir())


@pytest.mark.permissions
def test_writes_name_their_target_never_the_hidden_temporary(tmp_path: Path) -> None:
    from cotal.utils.io import write_json
    from cotal.utils.outdir import make_staging

    permissions_enforced(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as err:
            write_json(ro / "c.json", {})
        assert err.value.filename == str(ro / "c.json")
        with pytest.raises(PermissionError) as err:
            make_staging(ro / "ds")
        assert err.value.filename == str(ro / "ds")
    finally:
        ro.chmod(0o755)


@pytest.mark.permissions
def test_an_unreadable_file_is_not_called_invalid(data: Path, capsys) -> None:
    permissions_enforced(data.parent)
    f = data / "rgb" / "video_0000.npy"
    f.chmod(0o000)
    try:
        code, out, _ = run_cli(capsys, "data", "check", data)
        assert code == 1 and f"{f}: cannot read (Permission denied)" in out and "not a valid" not in out
        (data / "annotations.json").chmod(0o000)
        code, _, err = run_cli(capsys, "data", "info", data)
        assert code == 2
        one_line_error(err, "annotations.json", "Permission denied")
    finally:
        f.chmod(0o644)
        (data / "annotations.json").chmod(0o644)


HUGE = "0x" + "f" * 5000  # more digits than Python turns into text; beyond a float


@pytest.mark.parametrize(
    "args, needle",
    [
        (["fit", "--set", f"pipeline.seed={HUGE}"], "pipeline.seed"),
        (["fit", "--set", f"train.lr={HUGE}"], "train.lr"),
        (["fit", "--set", f"model.base_dim={HUGE}"], "model.base_dim"),
        (["synth", "--set", f"dim={HUGE}"], "dim must be at most"),
        (["synth", "--set", f"rgb.noise={HUGE}"], "rgb.noise"),
    ],
)
def test_numbers_too_large_to_show_are_input_errors(data: Path, tmp_path: Path, capsys, args, needle: str) -> None:
    command, *rest = args
    where = ["--data", data, "--out", tmp_path / "r"] if command == "fit" else ["--out", tmp_path / "s"]
    code, _, err = run_cli(capsys, command, *where, *rest)
    assert code == 2
    one_line_error(err, needle, "too large to show")


def test_huge_numbers_in_files_are_input_errors(data: Path, tmp_path: Path, capsys) -> None:
    dets = tmp_path / "dets.json"
    for det in (
        '{"segment": [0, 1], "label": "a", "score": 1e999}',
        '{"segment": [0, 1e400], "label": "a", "score": 1}',
    ):
        dets.write_text('{"results": {"video_0005": [' + det + "]}}")
        code, _, err = run_cli(capsys, "eval", "--data", data / "annotations.json", "--detections", dets)
        assert code == 2
        one_line_error(err, str(dets), "video_0005")
    ann = data / "annotations.json"
    ann.write_text(ann.read_text().replace('"duration": ', '"duration": ' + "9" * 5000 + ', "x": ', 1))
    code, _, err = run_cli(capsys, "data", "info", data)
    assert code == 2
    one_line_error(err, "annotations.json", "not valid JSON", "4300 digits")
