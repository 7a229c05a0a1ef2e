"""Fault suite: the report reads only what the user named and writes only its own output (video files inside
--videos, output paths, the run's dataset, the run lock), and malformed run files or labels that look like math
are input errors or plain text; numbers on the command line are bounded."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from cotal.config import load_config
from cotal.errors import ConfigError
from cotal.features.outputs import PARTS
from cotal.pipeline import fit
from cotal.report import video_sources, write_report_html
from cotal.utils.io import read_json, write_json
from cotal.utils.outdir import locked
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.test_faults_os import permissions_enforced
from tests.toy_data import write_toy_dataset

# Labels that matplotlib would read as math or TeX: the report shows them as written.
LABELS = ["$x^2$", "50% a_b {c} \\d", "$\\frac{1}{$"]
TINY = {
    "pipeline": {"supervision": "weak", "tiou_thresholds": [0.3, 0.5]},
    "model": {"base_dim": 16},
    "train": {"epochs": 2, "batch_size": 6, "device": "cpu"},
}


def usage_error(capsys: pytest.CaptureFixture, *args: object) -> str:
    """Run ``cotal ARGS``, which argparse must refuse (exit 2); returns stderr."""
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, *args)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished weakly supervised run (labels are class names, drawn on every lane) on data labelled LABELS."""
    root = tmp_path_factory.mktemp("report_faults")
    data = write_toy_dataset(root / "data", num_videos=12)
    ann = read_json(data / "annotations.json")
    for rec in ann["database"].values():
        for a in rec["annotations"]:
            a["label"] = LABELS[int(a["label"].removeprefix("class_"))]
    write_json(data / "annotations.json", ann)
    fit(data, root / "run", load_config(None, TINY), progress=False)
    return data, root / "run"


@pytest.fixture
def case(made: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the run and its data in this test's folder (data.json records the copy's content)."""
    data, run = made
    shutil.copytree(data, tmp_path / "data")
    shutil.copytree(run, tmp_path / "run")
    info = read_json(tmp_path / "run" / "run.json")
    write_json(tmp_path / "run" / "run.json", {**info, "data": str(tmp_path / "data")})
    return tmp_path / "data", tmp_path / "run"


def test_labels_are_text_never_math(made: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, run = made
    code, out, err = run_cli(capsys, "report", run, "--out", tmp_path / "r.html", "--best-worst", "1")
    assert code == 0 and err == "", err
    page = (tmp_path / "r.html").read_text()
    assert "Test videos" in page and "$x^2$" in page and "$\\frac{1}{$" in page
    assert page.count("data:image/png;base64,") >= 2  # curves and timelines were drawn


def test_report_out_never_replaces_an_input_or_a_file_it_did_not_write(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, run = case
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(b"my video")
    (tmp_path / "notes.html").write_text("mine")
    before = snapshot(tmp_path)
    refused = {
        data / "annotations.json": "input",
        data / "rgb" / "video_0000.npy": "input",
        run / "final.json": "input",
        run / "metrics.json": "input",
        run / "round_0": "folder",
        videos / "clip.mp4": "input",
        tmp_path / "notes.html": "--overwrite",
    }
    for out, why in refused.items():
        code, _, err = run_cli(capsys, "report", run, "--videos", videos, "--out", out)
        assert code == 2
        one_line_error(err, str(out), why)
        if why == "input":  # never, not even with --overwrite
            code, _, err = run_cli(capsys, "report", run, "--videos", videos, "--out", out, "--overwrite")
            assert code == 2
            one_line_error(err, str(out))
    assert snapshot(tmp_path) == before
    # The run's own report is replaced; a user's file only with --overwrite; a new file anywhere else.
    for args in (["--out", run / "report.html"], ["--out", tmp_path / "notes.html", "--overwrite"], []):
        assert run_cli(capsys, "report", run, "--best-worst", "1", *args)[0] == 0
    assert "cotal report" in (tmp_path / "notes.html").read_text()
    changed = {k for k, v in snapshot(tmp_path).items() if before.get(k) != v}
    assert changed == {"notes.html", "run/report.html"}


def test_report_data_must_be_the_runs(case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, run = case
    other = tmp_path / "other"
    shutil.copytree(data, other)
    ann = read_json(other / "annotations.json")
    next(iter(ann["database"].values()))["duration"] += 1.0
    write_json(other / "annotations.json", ann)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "report", run, "--data", other, "--out", tmp_path / "r.html")
    assert code == 2
    one_line_error(err, str(other), "is not the dataset", "annotations differs")
    assert snapshot(tmp_path) == before
    # A copy with the same content is the same data, wherever it lies.
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    code, _, err = run_cli(capsys, "report", run, "--data", moved, "--out", tmp_path / "r.html")
    assert code == 0 and err == ""
    # A run that records no fingerprint is reported on, and says it could not check.
    (run / "data.json").unlink()
    code, _, err = run_cli(capsys, "report", run, "--data", other, "--out", tmp_path / "r2.html")
    assert code == 0
    one_line_error(err, "warning", "no data.json", str(other))


@pytest.mark.parametrize(
    ("file", "edit", "field"),
    [
        ("metrics.json", lambda m: m["detection"]["weak"].update(average_map="high"), "detection.weak.average_map"),
        ("metrics.json", lambda m: m["detection"]["weak"]["ap"].update(x=[1, "a"]), "detection.weak.ap.x[1]"),
        ("metrics.json", lambda m: m["detection"]["weak"].update(num_gt={}), "detection.weak.num_gt"),
        ("metrics.json", lambda m: m.update(rounds=[{"round": "zero"}]), "rounds[0].round"),
        ("metrics.json", lambda m: m.update(timings_s=[1, 2]), "timings_s"),
        ("metrics.json", lambda m: [1, 2], "the file"),
        ("final.json", lambda f: f.update(class_names="abc"), "class_names"),
        ("final.json", lambda f: f.pop("models") and None, "models is missing"),
        ("run.json", lambda r: r.update(invocations=[["fit"]]), "invocations[0]"),
        ("run.json", lambda r: r.update(data=7), "data"),
    ],
)
def test_a_run_file_of_the_wrong_types_is_an_input_error(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, file: str, edit, field: str
) -> None:
    _, run = case
    doc = read_json(run / file)
    doc = edit(doc) or doc
    write_json(run / file, doc)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "report", run)
    assert code == 2
    one_line_error(err, str(run / file), field)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b"step,epoch,total\n1,1,0.5\n2,1,abc\n", "line 3: 'total' must be a number, got 'abc'"),
        (b"step,epoch,total\n1,1\n", "line 2 has 2 values for 3 columns"),
        (b"step,total\n1,\xff\n", "not UTF-8 text"),
    ],
)
def test_a_malformed_training_log_is_an_input_error(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, text: bytes, where: str
) -> None:
    _, run = case
    log = run / "round_0" / "model_rgb" / "train_log.csv"
    log.write_bytes(text)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "report", run)
    assert code == 2
    one_line_error(err, str(log), where)
    assert snapshot(tmp_path) == before


def test_outputs_of_another_class_count_are_an_input_error(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, run = case
    final = read_json(run / "final.json")
    write_json(run / "final.json", {**final, "class_names": [*final["class_names"], "extra"]})
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "report", run)
    assert code == 2
    one_line_error(err, "outputs of 3 classes", "final.json names 4")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["-5", "0", "101", "1e3", "9" * 5000])
def test_best_worst_is_bounded(made: tuple[Path, Path], capsys: pytest.CaptureFixture, value: str) -> None:
    _, run = made
    one_line_error(usage_error(capsys, "report", run, "--best-worst", value), "--best-worst", "from 1 to 100")


def test_video_files_are_read_only_inside_videos(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data, run = case
    videos = tmp_path / "videos"
    videos.mkdir()
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the report")
    (videos / "link.mp4").symlink_to(secret)
    (videos / "folder.mp4").mkdir()
    os.mkfifo(videos / "pipe.mp4")
    ids = sorted(read_json(data / "annotations.json")["database"])
    sources = [secret, videos / "link.mp4", videos / "folder.mp4", videos / "pipe.mp4", Path("/etc/passwd")]
    for vid, src in zip(ids, sources, strict=False):
        write_json(data / PARTS / f"{vid}.json", {"video_id": vid, "source": str(src)})
    with pytest.warns(UserWarning, match=r"5 recorded video file\(s\) left out") as caught:
        assert video_sources(data, videos) == {}
    assert "outside --videos" in str(caught[0].message)
    (videos / "pipe.mp4").unlink()  # a snapshot would wait on it
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "report", run, "--videos", videos, "--out", tmp_path / "r.html")
    assert code == 0
    one_line_error(err, "warning", "left out of the pictures")
    assert 'class="thumbs"' not in (tmp_path / "r.html").read_text()
    assert {k: v for k, v in snapshot(tmp_path).items() if k != "r.html"} == before
    # Without --videos (what `cotal fit` and `cotal demo` do by default) no recorded file is even looked at.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_report_html(run, out=tmp_path / "r2.html")
    err = usage_error(capsys, "report", run, "--videos", secret, "--out", tmp_path / "r3.html")
    one_line_error(err, "--videos", "not a folder")


def test_the_report_takes_the_run_lock(case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, run = case
    with locked(run):  # a `cotal fit` writing the run
        before = snapshot(tmp_path)
        for args in ([], ["--out", tmp_path / "r.html"]):
            code, _, err = run_cli(capsys, "report", run, *args)
            assert code == 2
            one_line_error(err, "another cotal process", f"pid {os.getpid()}")
        assert snapshot(tmp_path) == before
    with locked(run, shared=True):  # a report being written elsewhere: other readers share it, writers wait
        assert run_cli(capsys, "report", run, "--out", tmp_path / "r.html", "--best-worst", "1")[0] == 0
        with pytest.raises(ConfigError, match="another cotal process is reading this folder"):
            write_report_html(run)  # writes into the run
        code, _, err = run_cli(capsys, "fit", "--data", data, "--out", run, "--quiet")
        assert code == 2
        one_line_error(err, "is reading this folder")


@pytest.mark.permissions
def test_a_report_elsewhere_needs_only_read_access_to_the_run(
    case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, run = case
    permissions_enforced(tmp_path)
    for folder, _, files in os.walk(run):
        for name in files:
            os.chmod(Path(folder, name), 0o444)
        os.chmod(folder, 0o555)
    try:
        code, _, err = run_cli(capsys, "report", run, "--out", tmp_path / "r.html", "--best-worst", "1")
        assert code == 0, err
    finally:
        for folder, _, _ in os.walk(run):
            os.chmod(folder, 0o755)


def test_a_parts_record_of_the_wrong_types_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = write_toy_dataset(tmp_path / "ds", num_videos=4)
    (out / "annotations.json").unlink()
    for vid in ("video_0000", "video_0001"):
        write_json(out / PARTS / f"{vid}.json", {"video_id": vid, "duration": 3.0, "streams": ["rgb", "flow"]})
    bad = out / PARTS / "video_0001.json"
    for record, field in (
        ({"duration": "abc"}, "'duration'"),
        ({"duration": 1e308}, "'duration'"),
        ({"annotation": [1]}, "'annotation'"),
        ({"annotation": {"subset": "test", "annotations": [{"segment": [0, "a"], "label": "x"}]}}, "'segment'"),
    ):
        write_json(bad, {"video_id": "video_0001", "duration": 3.0, "streams": ["rgb", "flow"], **record})
        before = snapshot(tmp_path)
        code, _, err = run_cli(capsys, "extract", "--merge", "--out", out)
        assert code == 2
        one_line_error(err, str(bad), field)
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("detections", "needle"),
    [
        ('{"v": [{"segment": [0, 1], "label": "a", "score": 0.2, "score": 0.9}]}', "the key 'score' appears twice"),
        ('{"v": [{"segment": [0, 1], "label": "a", "score": ' + "9" * 5000 + "}]}", "digits"),
    ],
)
def test_detections_with_repeated_keys_or_huge_numbers_are_input_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, detections: str, needle: str
) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=4)
    path = tmp_path / "dets.json"
    path.write_text('{"results": ' + detections + "}")
    code, _, err = run_cli(capsys, "eval", "--data", data, "--detections", path)
    assert code == 2
    one_line_error(err, str(path), needle)
    path.write_text('{"results": {}, "results": ' + detections + "}")
    code, _, err = run_cli(capsys, "eval", "--data", data, "--detections", path)
    assert code == 2
    one_line_error(err, str(path), "the key 'results' appears twice")


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["fit", "--epochs", "1e23"], "--epochs"),
        (["fit", "--epochs", str(10**23)], "--epochs"),
        (["fit", "--steps", str(10**23)], "--steps"),
        (["fit", "--rounds", "100000"], "--rounds"),
        (["fit", "--clusters", str(10**23)], "--clusters"),
        (["fit", "--clusters", "-3"], "--clusters"),
        (["cluster", "--clusters", "9" * 5000], "--clusters"),
    ],
)
def test_absurd_counts_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], flag: str
) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=4)
    before = snapshot(tmp_path)
    one_line_error(usage_error(capsys, *args, "--data", data, "--out", tmp_path / "out"), flag, "must be")
    assert snapshot(tmp_path) == before


def test_a_metrics_file_is_read_as_json_with_every_check(
    case: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    _, run = case
    (run / "metrics.json").write_text(json.dumps({"rounds": []})[:-1] + ', "rounds": []}')
    code, _, err = run_cli(capsys, "report", run)
    assert code == 2
    one_line_error(err, "metrics.json", "the key 'rounds' appears twice")
