"""`cotal data motions`: BasicMotions recordings stitched into untrimmed sequences (cotal.data.motions)."""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.data import FeatureDataset, check_dataset
from cotal.data.motions import (
    FPS,
    SHA256,
    SUBSETS,
    basicmotions_dir,
    make_motions,
    read_ts,
    snippet_statistics,
    stitch,
)
from cotal.errors import ConfigError, DataError
from cotal.utils import deps

LENGTH, CHANNELS = 60, 2  # 6 s recordings of 2 channels (the archive's: 10 s of 6)


def write_ts(path: Path, recordings: list[tuple[np.ndarray, str]]) -> None:
    """A multivariate .ts file (comment, header, @data) holding ``recordings``, each (L, C) with its label."""
    lines = ["#fake BasicMotions", "@problemName BasicMotions", "@dimensions 2", "@data"]
    lines += [
        ":".join(",".join(f"{v:.6f}" for v in channel) for channel in x.T) + f":{label}" for x, label in recordings
    ]
    path.write_text("\n".join(lines) + "\n")


def recording(rng: np.random.Generator, offset: float) -> np.ndarray:
    return (offset + rng.normal(size=(LENGTH, CHANNELS))).round(6)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """TRAIN: 2 Standing, 1 Walking, 1 Running; TEST: 1 Standing, 1 Badminton, 1 Jumping (not an action)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ts"
    folder.mkdir()
    train = [(recording(rng, 0), "Standing"), (recording(rng, 5), "Walking"), (recording(rng, 0), "Standing")]
    write_ts(folder / SUBSETS["train"], [*train, (recording(rng, 10), "Running")])
    test = [(recording(rng, 20), "Badminton"), (recording(rng, 0), "Standing"), (recording(rng, 30), "Jumping")]
    write_ts(folder / SUBSETS["test"], test)
    return folder


def digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".cotal.json")
    return hashlib.sha256(
        b"".join(p.relative_to(folder).as_posix().encode() + p.read_bytes() for p in files)
    ).hexdigest()


def test_read_ts_returns_recordings_and_labels(source: Path) -> None:
    series, labels = read_ts(source / SUBSETS["train"])
    assert labels == ["Standing", "Walking", "Standing", "Running"]
    assert [x.shape for x in series] == [(LENGTH, CHANNELS)] * 4 and series[0].dtype == np.float64
    assert series[1].mean() == pytest.approx(5, abs=0.5)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("@data\n1,2:3,x:Walking\n", r"line 2: expected channels of numbers"),
        ("@data\n1,2:3:Walking\n", r"line 2: no channels, or channels of different lengths"),
        ("@data\n1,2:3,4:Walking\n1,2:Walking\n", r"line 3: 1 channels, the first recording has 2"),
        ("@problemName X\n", r"no recordings"),
    ],
)
def test_read_ts_refuses_malformed_files(tmp_path: Path, data: str, match: str) -> None:
    (tmp_path / "x.ts").write_text(data)
    with pytest.raises(DataError, match=match):
        read_ts(tmp_path / "x.ts")


def test_snippet_statistics_of_a_ramp() -> None:
    signal = np.stack([np.arange(20.0), np.full(20, 3.0)], axis=1)  # channel 0 rises 1 per sample, channel 1 flat
    x = snippet_statistics(signal)
    assert x.shape == (4, 20) and x.dtype == np.float32
    mean, std, lo, hi, step = (x[:, 2 * k : 2 * k + 2] for k in range(5))
    np.testing.assert_allclose(mean[1:3, 0], [6.5, 11.5])  # the windows [2, 12) and [7, 17)
    np.testing.assert_allclose(mean[:, 1], 3)
    np.testing.assert_allclose(lo[0], [0, 3])  # the windows at the ends are cut: [0, 7) and [12, 20)
    np.testing.assert_allclose(hi[3], [19, 3])
    np.testing.assert_allclose(step[:, 0], 1)
    np.testing.assert_allclose(std[:, 1], 0)
    np.testing.assert_allclose(x[:, 10:][:, 1::2], 0, atol=1e-6)  # a flat channel has no spectrum


def test_stitch_cuts_actions_from_the_recording_and_background_elsewhere() -> None:
    rng = np.random.default_rng(3)
    action, background = np.arange(100.0)[:, None], [np.full((100, 1), -1.0)]
    for _ in range(20):
        signal, annotations = stitch(action, "Walking", background, rng)
        assert 1 <= len(annotations) <= 3
        mask = np.zeros(len(signal), bool)
        for a in annotations:
            start, end = (round(t * FPS) for t in a["segment"])
            assert a["label"] == "Walking" and 2 * FPS <= end - start <= 8 * FPS
            piece = signal[start:end, 0]
            np.testing.assert_array_equal(np.diff(piece), 1)  # one contiguous piece of the recording
            mask[start:end] = True
        assert (signal[~mask] == -1).all() and signal[0, 0] == -1 and signal[-1, 0] == -1


@pytest.mark.parametrize(("mode", "most"), [("mixed", 3), ("one", 1)])
def test_stitch_draws_background_from_one_recording_or_several(mode: str, most: int) -> None:
    rng = np.random.default_rng(4)
    action = np.full((100, 1), 100.0)
    background = [np.full((100, 1), -float(k)) - 1 for k in range(3)]  # recording k holds -(k + 1)
    seen = []
    for _ in range(30):
        signal, _ = stitch(action, "Walking", background, rng, mode)
        seen.append(len(np.unique(signal[signal[:, 0] < 0])))
    assert max(seen) == most  # mixed: pieces of several recordings in one sequence; one: a single recording


def test_make_motions_writes_a_native_dataset(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "motions"
    assert main(["data", "motions", "--out", str(out), "--source", str(source), "--copies", "2"]) == 0
    assert "wrote 6 sequences (4 train, 2 test; rgb+flow, 20-d)" in capsys.readouterr().out
    assert check_dataset(out) == []
    ds = FeatureDataset(out)
    assert ds.train_ids == [f"motions_train_{r:02d}_{c}" for r in (1, 3) for c in (0, 1)]
    assert ds.test_ids == ["motions_test_00_0", "motions_test_00_1"]
    assert (ds.meta.fps, ds.meta.stride, ds.meta.train_subset, ds.meta.test_subset) == (10, 5, "train", "test")
    labels = {vid: ds.annotation(vid).video_labels for vid in ds.video_ids()}
    assert labels["motions_train_01_0"] == ("Walking",) and labels["motions_train_03_1"] == ("Running",)
    assert labels["motions_test_00_1"] == ("Badminton",)
    for vid in ds.video_ids():
        duration = ds.annotation(vid).duration
        for stream in ("rgb", "flow"):
            x = ds.features(vid, stream)
            assert x.shape == (int(round(duration * FPS)) // 5, 20) and x.dtype == np.float32
        assert (ds.annotation(vid).segments <= duration).all()
    # raw statistics, not standardised: the Running recording (offset 10) shows in its snippets' means
    assert ds.features("motions_train_03_0", "rgb")[:, 0].max() > 8


def test_make_motions_is_determined_by_the_seed(source: Path, tmp_path: Path) -> None:
    a = make_motions(tmp_path / "a", seed=4, source=source)
    b = make_motions(tmp_path / "b", seed=4, source=source)
    c = make_motions(tmp_path / "c", seed=5, source=source)
    assert a.videos == b.videos == {"train": 6, "test": 3}
    assert digest(a.out) == digest(b.out) != digest(c.out)


def test_make_motions_refuses_bad_requests(source: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="copies must be at least 1, got 0"):
        make_motions(tmp_path / "out", copies=0, source=source)
    with pytest.raises(ConfigError, match="overlaps the input"):
        make_motions(source / "out", source=source)
    write_ts(source / SUBSETS["test"], [(np.zeros((30, CHANNELS)), "Walking")])
    with pytest.raises(DataError, match=r"BasicMotions_TEST\.ts: no 'Standing' recordings"):
        make_motions(tmp_path / "out", source=source)
    write_ts(source / SUBSETS["test"], [(np.zeros((30, 3)), "Walking"), (np.zeros((30, 3)), "Standing")])
    with pytest.raises(DataError, match=r"BasicMotions_TEST\.ts: another number of channels"):
        make_motions(tmp_path / "out", source=source)
    assert not (tmp_path / "out").exists()  # all or nothing
    (source / SUBSETS["test"]).unlink()
    with pytest.raises(DataError, match=r"BasicMotions_TEST\.ts: file not found"):
        make_motions(tmp_path / "out", source=source)


def test_sktime_copy_must_be_the_archive_files(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "sktime"
    (package / "datasets" / "data").mkdir(parents=True)
    (package / "datasets" / "data" / "BasicMotions").symlink_to(source)
    monkeypatch.setattr("cotal.data.motions.require_dir", lambda module, purpose: package)
    with pytest.raises(DataError, match=r"BasicMotions_TRAIN\.ts: sha256 .* does not match"):
        make_motions(tmp_path / "out")


def test_missing_extra_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(deps, "find_spec", lambda module: None)
    with pytest.raises(
        ConfigError, match=r"the motions dataset needs the sktime package: pip install 'cotal\[motions\]'"
    ):
        make_motions(tmp_path / "out")
    assert main(["data", "motions", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


@pytest.mark.skipif(find_spec("sktime") is None, reason="needs the motions extra (pip install 'cotal[motions]')")
def test_real_recordings_make_the_suite_dataset(tmp_path: Path) -> None:
    folder = basicmotions_dir()
    assert {p.name for p in folder.glob("*.ts")} >= set(SHA256)
    report = make_motions(tmp_path / "motions")  # seed 0, 3 copies: the accuracy suite's `motions`
    assert report.videos == {"train": 90, "test": 90} and report.dim == 60
    # every byte of the dataset the suite's motions figures (docs/benchmarks.md) were computed on
    assert digest(report.out) == "cdd108e7398cd227cb1ecff714bfbab830375d6783db2f33eb9e35beb4a048a7"
