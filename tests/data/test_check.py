"""check_dataset / `cotal data check`: every bad input gives exactly one problem naming the file, and the
loader raises the same text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from cotal.cli.main import main
from cotal.data import FeatureDataset, check_dataset
from cotal.errors import DataError
from tests.toy_data import write_toy_dataset


def _db(root: Path) -> dict:
    return json.loads((root / "annotations.json").read_text())


def _set_db(root: Path, db: dict) -> None:
    (root / "annotations.json").write_text(json.dumps(db))


def _T(root: Path, vid: str = "video_0000") -> int:
    return np.load(root / "rgb" / f"{vid}.npy").shape[0]


def _edit_segment(root: Path, seg: list[float]) -> None:
    db = _db(root)
    db["database"]["video_0000"]["annotations"][0]["segment"] = seg
    _set_db(root, db)


def _duration(root: Path) -> float:
    return _db(root)["database"]["video_0000"]["duration"]


def _save(root: Path, rel: str, arr: np.ndarray) -> None:
    np.save(root / rel, arr, allow_pickle=arr.dtype == object)


def _nan(root: Path) -> None:
    x = np.load(root / "rgb/video_0000.npy")
    x[3, 2] = np.nan
    _save(root, "rgb/video_0000.npy", x)


def _lengthen(root: Path) -> None:
    T = _T(root)
    for stream in ("rgb", "flow"):
        _save(root, f"{stream}/video_0000.npy", np.zeros((T + 5, 8), np.float32))


def _truncate(root: Path) -> None:
    p = root / "rgb/video_0000.npy"
    p.write_bytes(p.read_bytes()[:-10])


# (mutation, file the problem names, substring of its message, loader call that must raise the same text)
CASES: dict[str, tuple[Callable[[Path], None], str | tuple[str, ...], str, bool]] = {
    "missing": (lambda r: (r / "rgb/video_0000.npy").unlink(), "rgb/video_0000.npy", "file not found", True),
    "extra": (
        lambda r: _save(r, "rgb/extra.npy", np.zeros((30, 8), np.float32)),
        "rgb/extra.npy",
        "not in annotations.json",
        False,
    ),
    "int dtype": (
        lambda r: _save(r, "rgb/video_0000.npy", np.zeros((_T(r), 8), np.int32)),
        "rgb/video_0000.npy",
        "expected a float array",
        True,
    ),
    "ndim": (
        lambda r: _save(r, "rgb/video_0000.npy", np.zeros(_T(r), np.float32)),
        "rgb/video_0000.npy",
        "expected a 2-D",
        True,
    ),
    "dim differs": (
        lambda r: _save(r, "rgb/video_0000.npy", np.zeros((_T(r), 5), np.float32)),
        "rgb/video_0000.npy",
        "D = 5, but most files of this stream have D = 8",
        False,
    ),
    "nan": (_nan, "rgb/video_0000.npy", "NaN/Inf (first at snippet 3, dim 2)", True),
    "T = 0": (
        lambda r: _save(r, "rgb/video_0000.npy", np.zeros((0, 8), np.float32)),
        "rgb/video_0000.npy",
        "T = 0",
        True,
    ),
    "T vs duration": (_lengthen, ("rgb/video_0000.npy", "flow/video_0000.npy"), "gives", False),
    "stream lengths": (
        lambda r: _save(r, "flow/video_0000.npy", np.zeros((_T(r) - 1, 8), np.float32)),
        ".",
        "video 'video_0000': streams have different lengths",
        False,
    ),
    "segment past end": (
        lambda r: _edit_segment(r, [1.0, _duration(r) + 1.0]),
        "annotations.json",
        "lies outside",
        False,
    ),
    "segment before 0": (lambda r: _edit_segment(r, [-1.0, 2.0]), "annotations.json", "lies outside", False),
    "end <= start": (lambda r: _edit_segment(r, [3.0, 3.0]), "annotations.json", "end <= start", False),
    "unknown subset": (
        lambda r: (r / "dataset.yaml").write_text(yaml.safe_dump({"train_subset": "training"})),
        "dataset.yaml",
        "train_subset 'training' matches no video",
        False,
    ),
    "bad yaml value": (
        lambda r: (r / "dataset.yaml").write_text("fps: -1\n"),
        "dataset.yaml",
        "'fps' must be a positive number",
        False,
    ),
    "bad yaml syntax": (
        lambda r: (r / "dataset.yaml").write_text("fps: [1\n"),
        "dataset.yaml",
        "not valid YAML",
        False,
    ),
    "bad json": (lambda r: (r / "annotations.json").write_text("{"), "annotations.json", "not valid JSON", False),
    "json structure": (
        lambda r: (r / "annotations.json").write_text('{"videos": {}}'),
        "annotations.json",
        "'database'",
        False,
    ),
    "empty npy": (lambda r: (r / "rgb/video_0000.npy").write_bytes(b""), "rgb/video_0000.npy", "file is empty", True),
    "garbage npy": (
        lambda r: (r / "rgb/video_0000.npy").write_bytes(b"not numpy at all" * 8),
        "rgb/video_0000.npy",
        "not a valid .npy file",
        True,
    ),
    "truncated npy": (_truncate, "rgb/video_0000.npy", "truncated", True),
    "pickled npy": (
        lambda r: _save(r, "rgb/video_0000.npy", np.empty(3, dtype=object)),
        "rgb/video_0000.npy",
        "pickled Python objects",
        True,
    ),
    "stray file": (lambda r: (r / "rgb/notes.txt").write_text("x"), "rgb/notes.txt", "unexpected entry", False),
}


def test_clean_dataset_has_no_problem(toy_dataset: Path) -> None:
    assert check_dataset(toy_dataset) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_reported_once_naming_its_file(toy_dataset: Path, case: str) -> None:
    mutate, rel, text, _ = CASES[case]
    mutate(toy_dataset)
    rels = rel if isinstance(rel, tuple) else (rel,)
    problems = check_dataset(toy_dataset)
    assert sorted(Path(p.path) for p in problems) == sorted(toy_dataset / r for r in rels), problems
    assert all(text in p.message and "\n" not in str(p) for p in problems)


@pytest.mark.parametrize("case", sorted(c for c, v in CASES.items() if v[3]))
def test_loader_raises_the_same_message(toy_dataset: Path, case: str) -> None:
    mutate = CASES[case][0]
    mutate(toy_dataset)
    [problem] = check_dataset(toy_dataset)
    ds = FeatureDataset(toy_dataset)
    with pytest.raises(DataError) as err:
        ds.features("video_0000", "rgb")
    assert str(err.value) == str(problem)


def test_several_problems_are_all_listed(toy_dataset: Path) -> None:
    _nan(toy_dataset)
    (toy_dataset / "flow/video_0001.npy").unlink()
    _edit_segment(toy_dataset, [3.0, 1.0])
    messages = [str(p) for p in check_dataset(toy_dataset)]
    assert len(messages) == 3
    assert any("ends before it starts" in m for m in messages)
    assert any(m.endswith("flow/video_0001.npy: file not found") for m in messages)
    assert any("NaN/Inf" in m for m in messages)


def test_nan_and_length_problems_of_one_file_are_both_reported(toy_dataset: Path) -> None:
    x = np.ones((_T(toy_dataset) + 10, 8), np.float32)
    x[-1, -1] = np.inf
    _save(toy_dataset, "rgb/video_0000.npy", x)
    _save(toy_dataset, "flow/video_0000.npy", np.ones_like(x))
    rgb = str(toy_dataset / "rgb/video_0000.npy")
    messages = [p.message for p in check_dataset(toy_dataset) if p.path == rgb]
    assert len(messages) == 2 and "NaN/Inf" in messages[0] and "gives" in messages[1]
    assert [p.message for p in check_dataset(toy_dataset, scan_values=False) if p.path == rgb] == messages[1:]


def test_nan_scan_finds_late_values_across_blocks(toy_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cotal.data.problems.SCAN_BLOCK_ELEMENTS", 16)  # 2 rows per block
    x = np.load(toy_dataset / "rgb/video_0003.npy")
    x[-1, 5] = -np.inf
    _save(toy_dataset, "rgb/video_0003.npy", x)
    [problem] = check_dataset(toy_dataset)
    assert f"first at snippet {len(x) - 1}, dim 5" in problem.message


def test_length_tolerance_is_max_2_or_5_percent(tmp_path: Path) -> None:
    root = write_toy_dataset(tmp_path / "toy", num_videos=3, min_len=20, max_len=20)
    for delta, bad in ((2, False), (3, True), (-3, True)):
        for stream in ("rgb", "flow"):
            _save(root, f"{stream}/video_0000.npy", np.ones((20 + delta, 8), np.float32))
        assert bool(check_dataset(root)) == bad, delta
    root = write_toy_dataset(tmp_path / "long", num_videos=3, min_len=200, max_len=200)
    for delta, bad in ((10, False), (11, True)):  # 5% of 200 = 10
        for stream in ("rgb", "flow"):
            _save(root, f"{stream}/video_0000.npy", np.ones((200 + delta, 8), np.float32))
        assert bool(check_dataset(root)) == bad, delta


def test_segment_tolerance_half_a_second(toy_dataset: Path) -> None:
    _edit_segment(toy_dataset, [-0.4, _duration(toy_dataset) + 0.4])
    assert check_dataset(toy_dataset) == []
    _edit_segment(toy_dataset, [0.0, _duration(toy_dataset) + 0.6])
    assert len(check_dataset(toy_dataset)) == 1


def test_missing_folder_and_no_streams(tmp_path: Path, toy_dataset: Path) -> None:
    assert "dataset folder not found" in check_dataset(tmp_path / "nope")[0].message
    for stream in ("rgb", "flow"):
        for p in (toy_dataset / stream).iterdir():
            p.unlink()
        (toy_dataset / stream).rmdir()
    [problem] = check_dataset(toy_dataset)
    assert "no feature folder" in problem.message


def test_cli_check_exit_codes_and_output(toy_dataset: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "check", str(toy_dataset)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "OK (12 videos" in out
    _nan(toy_dataset)
    (toy_dataset / "flow/video_0002.npy").unlink()
    assert main(["data", "check", str(toy_dataset)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2
    assert any(line.startswith(str(toy_dataset / "rgb/video_0000.npy")) for line in lines)
    assert any(line.startswith(str(toy_dataset / "flow/video_0002.npy")) for line in lines)
    assert "2 problem(s)" in captured.err
    assert main(["data", "check", "--no-scan", str(toy_dataset)]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1
