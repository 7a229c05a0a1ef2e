"""Fault suite, class 5: hostile text. Labels and names that could drive a terminal or forge a line are refused
(and named by `data check`), labels read as one class when they print alike, YAML alias bombs and repeated keys
are refused, and every message is one escaped line of bounded length."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from cotal.utils.text import MAX_MESSAGE
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset

ESC = "\x1b]0;pwned\x07\x1b[2J"
HOSTILE = [ESC, "a\nFAKE: everything OK", "b\rOK", "c\u202ebidi", "d\u2028e", "\ud800", "x\x00y"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "data", num_videos=6)


def _edit(data: Path, edit) -> None:
    path = data / "annotations.json"
    doc = json.loads(path.read_text())
    edit(doc["database"])
    path.write_text(json.dumps(doc))


def _no_control(text: str) -> None:
    assert all(ch in "\n" or ch.isprintable() for ch in text), repr(text)


@pytest.mark.parametrize("bad", HOSTILE)
@pytest.mark.parametrize("where", ["label", "subset", "name", "train_subset"])
def test_control_characters_from_data_never_reach_the_terminal(data: Path, capsys, bad: str, where: str) -> None:
    if where == "label":
        _edit(data, lambda db: db["video_0001"].update(annotations=[{"segment": [0, 1], "label": bad}]))
    elif where == "subset":
        _edit(data, lambda db: db["video_0001"].update(subset=bad))
    else:
        meta = yaml.safe_load((data / "dataset.yaml").read_text())
        meta[where] = bad
        (data / "dataset.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    for command in ("info", "check"):
        code, out, err = run_cli(capsys, "data", command, data)
        assert code == (2 if command == "info" else 1)
        _no_control(out + err)
        if command == "check":  # the label is named, escaped, on one line
            assert len(out.strip().splitlines()) == 1 and "control character" in out


def test_eval_and_cluster_print_no_raw_text_from_data(data: Path, tmp_path: Path, capsys) -> None:
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps({"results": {"video_0005": [{"segment": [0, 1], "label": "a\nFAKE", "score": 1}]}}))
    code, out, err = run_cli(capsys, "eval", "--data", data, "--detections", dets, "--per-class")
    assert code == 2
    one_line_error(err, "control characters")
    _no_control(out + err)


def test_labels_that_print_alike_are_one_class_and_data_check_says_so(data: Path, capsys) -> None:
    def edit(db: dict) -> None:
        db["video_0000"]["annotations"][0]["label"] = "Cafe\u0301"  # decomposed é
        db["video_0003"]["annotations"][0]["label"] = " Caf\u00e9"
        db["video_0001"]["annotations"][0]["label"] = "Diving"
        db["video_0004"]["annotations"][0]["label"] = "diving"

    _edit(data, edit)
    code, out, _ = run_cli(capsys, "data", "check", data, "--no-scan")
    assert code == 1
    assert "'Café' is written as" in out and "one class" in out
    assert "'Diving' and 'diving' differ only by case" in out
    code, out, err = run_cli(capsys, "data", "info", data)
    assert code == 0
    one_line_error(err, "warning", "read as one class")
    assert "  Café: 2 instances" in out


def test_duplicate_keys_are_refused(data: Path, tmp_path: Path, capsys) -> None:
    text = (data / "annotations.json").read_text()
    entry = '"video_0000": {"subset": "test", "duration": 5.0, "annotations": []}, '
    (data / "annotations.json").write_text(text.replace('"database": {', '"database": {' + entry, 1))
    before = snapshot(tmp_path)
    for args in (["data", "info", data], ["fit", "--data", data, "--out", tmp_path / "run", "--quiet"]):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, "annotations.json", "'video_0000' appears twice")
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1 and "appears twice" in out
    (data / "dataset.yaml").write_text("fps: 25\nstride: 16\nfps: 30\n")
    code, _, err = run_cli(capsys, "data", "info", data)
    assert code == 2
    one_line_error(err, "dataset.yaml", "line 3", "'fps' appears twice")
    assert snapshot(tmp_path) == {**before, "data/dataset.yaml": snapshot(tmp_path)["data/dataset.yaml"]}


def _bomb() -> str:
    """A flow mapping of 9 levels of 9 aliases each: under 400 bytes, 9**9 values once expanded."""
    levels = ["a: &a [" + ", ".join(["x"] * 9) + "]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "{" + ", ".join(levels) + "}"


BOMB = _bomb()


@pytest.mark.parametrize("where", ["dataset.yaml", "config", "set", "synth"])
def test_yaml_alias_bombs_are_refused_at_once(data: Path, tmp_path: Path, capsys, where: str) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    args = {
        "dataset.yaml": ["data", "info", data],
        "config": ["fit", "--data", data, "--out", tmp_path / "run", "--config", bomb],
        "set": ["fit", "--data", data, "--out", tmp_path / "run", "--set", f"train.lr={BOMB}"],
        "synth": ["synth", "--out", tmp_path / "s", "--set", f"dim={BOMB}"],
    }[where]
    if where == "dataset.yaml":
        (data / "dataset.yaml").write_text(BOMB)
    start = time.perf_counter()
    code, _, err = run_cli(capsys, *args)
    assert time.perf_counter() - start < 5
    assert code == 2
    one_line_error(err, "aliases")
    assert not (tmp_path / "run").exists() and not (tmp_path / "s").exists()


def test_recursive_aliases_and_base_lists_are_input_errors(data: Path, tmp_path: Path, capsys) -> None:
    for text, needle in (("a: &a [*a]\n", "refers to itself"), ("_base_: [demo]\n", "_base_ must be one")):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(text)
        code, _, err = run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "run", "--config", cfg)
        assert code == 2
        one_line_error(err, needle)


def test_every_message_is_capped(data: Path, tmp_path: Path, capsys) -> None:
    huge = "x" * 100_000
    _edit(data, lambda db: db["video_0001"].update({"subset": [huge] * 100}))
    code, _, err = run_cli(capsys, "data", "info", data)
    assert code == 2
    assert len(one_line_error(err, "subset")) <= MAX_MESSAGE + 100
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "r", "--set", f"train.lr=[{huge}]")
    assert code == 2
    assert len(one_line_error(err, "train.lr")) <= MAX_MESSAGE + 100


def test_usage_errors_are_one_line(capsys) -> None:
    for args in (
        ["synth", "--out", "x", "--videos", "1e9"],
        ["fit"],
        ["nonsense"],
        ["data", "split", "d", "--seed", "-1"],
    ):
        with pytest.raises(SystemExit) as exit_:
            run_cli(capsys, *args)
        assert exit_.value.code == 2
        one_line_error(capsys.readouterr().err, "error", "--help")


def test_file_names_are_listed_escaped(data: Path, capsys) -> None:
    (data / "rgb" / "x\x1b[2J\nFAKE: OK.npy").write_bytes(b"")
    code, out, _ = run_cli(capsys, "data", "check", data, "--no-scan")
    assert code == 1 and "x\\x1b[2J\\x0aFAKE: OK.npy: unexpected entry" in out
    _no_control(out)
