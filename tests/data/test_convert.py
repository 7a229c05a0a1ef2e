"""Readers of the published layouts (W-TALC joint, UM/BaS-Net) and `cotal data convert`."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.data import FeatureDataset, check_dataset, convert_dataset, read_um, read_wtalc
from cotal.data.readers import load_pickled_npy
from cotal.errors import ConfigError, DataError
from tests.data.published_layouts import object_array, write_um, write_wtalc


# -- W-TALC -------------------------------------------------------------------------------------------------------
def test_wtalc_needs_the_pickle_opt_in(tmp_path: Path) -> None:
    write_wtalc(tmp_path / "src")
    with pytest.raises(DataError, match=r"segments\.npy: holds pickled Python objects.*--allow-pickle"):
        read_wtalc(tmp_path / "src")


def test_wtalc_reader_splits_rgb_and_flow(tmp_path: Path) -> None:
    gt = write_wtalc(tmp_path / "src")
    src = read_wtalc(tmp_path / "src", allow_pickle=True)
    assert src.video_ids == gt["names"]
    assert (src.meta.train_subset, src.meta.test_subset) == ("validation", "test")
    x = src.features("video_002")
    np.testing.assert_array_equal(x["rgb"], gt["features"][2][:, :4])
    np.testing.assert_array_equal(x["flow"], gt["features"][2][:, 4:])
    v0 = src.annotations["video_000"]
    assert v0.labels == ("ClassA", "ClassB") and v0.segments.tolist() == [[1.0, 3.0], [4.0, 5.5]]
    assert v0.duration == pytest.approx(gt["durations"][0])
    np.testing.assert_array_equal(src.annotations.ambiguous["video_005"], [[0.5, 0.9]])


def test_convert_wtalc_round_trip_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = write_wtalc(tmp_path / "src")
    out = tmp_path / "native"
    assert (
        main(["data", "convert", str(tmp_path / "src"), "--layout", "wtalc", "--out", str(out), "--allow-pickle"]) == 0
    )
    assert "wrote 6 videos (rgb+flow)" in capsys.readouterr().out
    ds = FeatureDataset(out)
    assert check_dataset(out) == []
    assert ds.train_ids == gt["names"][:4] and ds.test_ids == gt["names"][4:]
    assert ds.timing.seconds_per_snippet == pytest.approx(0.64)
    for i, vid in enumerate(gt["names"]):
        np.testing.assert_array_equal(ds.joint_features(vid), gt["features"][i])
        assert np.load(out / "rgb" / f"{vid}.npy", allow_pickle=False).dtype == np.float32
    assert ds.annotations.ambiguous.keys() == {"video_005"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_convert_without_opt_in_fails_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_wtalc(tmp_path / "src")
    out = tmp_path / "native"
    assert main(["data", "convert", str(tmp_path / "src"), "--layout", "wtalc", "--out", str(out)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_hostile_pickle_is_refused_even_with_the_opt_in(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(Evil(), fh)
    with pytest.raises(DataError, match="not a numpy array constructor; refusing to load it"):
        load_pickled_npy(path, allow_pickle=True)
    assert not (tmp_path / "pwned").exists()


def test_wtalc_misaligned_annotations(tmp_path: Path) -> None:
    write_wtalc(tmp_path / "src")
    ann = tmp_path / "src/Thumos14reduced-Annotations"
    np.save(ann / "labels.npy", object_array([["ClassA"]] * 5), allow_pickle=True)
    with pytest.raises(DataError, match=r"labels\.npy: 5 entries but videoname\.npy lists 6 videos"):
        read_wtalc(tmp_path / "src", allow_pickle=True)
    np.save(ann / "labels.npy", object_array([["ClassA", "ClassB"]] * 6), allow_pickle=True)
    with pytest.raises(DataError, match=r"labels\.npy: video 'video_001' has 2 labels for 1 segments"):
        read_wtalc(tmp_path / "src", allow_pickle=True)


def test_wtalc_bad_durations(tmp_path: Path) -> None:
    write_wtalc(tmp_path / "src")
    ann = tmp_path / "src/Thumos14reduced-Annotations"
    np.save(ann / "duration.npy", np.ones(5))
    with pytest.raises(DataError, match=r"duration\.npy: 5 entries but videoname\.npy lists 6 videos"):
        read_wtalc(tmp_path / "src", allow_pickle=True)
    np.save(ann / "duration.npy", np.array([1.0, 2.0, 0.0, 1.0, 1.0, 1.0]))
    with pytest.raises(DataError, match=r"duration\.npy: video 'video_002': duration must be positive"):
        read_wtalc(tmp_path / "src", allow_pickle=True)


def test_wtalc_bad_feature_entry_names_the_video_and_writes_nothing(tmp_path: Path) -> None:
    gt = write_wtalc(tmp_path / "src")
    feats = gt["features"]
    feats[3] = feats[3].copy()
    feats[3][2, 1] = np.nan
    path = tmp_path / "src/Thumos14reduced-I3D-JOINTFeatures.npy"
    np.save(path, object_array(feats), allow_pickle=True)
    with pytest.raises(
        DataError, match=r"JOINTFeatures\.npy: contains NaN/Inf \(first at snippet 2, dim 1\) in video 'video_003'"
    ):
        convert_dataset(tmp_path / "src", tmp_path / "out", "wtalc", allow_pickle=True)
    feats[3] = np.zeros((5, 7), np.float32)  # odd D cannot be split into rgb + flow
    np.save(path, object_array(feats), allow_pickle=True)
    with pytest.raises(DataError, match=r"video 'video_003': expected a \(T, 2D\) float array, got \(5, 7\)"):
        convert_dataset(tmp_path / "src", tmp_path / "out", "wtalc", allow_pickle=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_wtalc_locating_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected exactly one"):
        read_wtalc(tmp_path, allow_pickle=True)
    write_wtalc(tmp_path / "src")
    src = read_wtalc(tmp_path / "src/Thumos14reduced-I3D-JOINTFeatures.npy", allow_pickle=True)  # the file itself
    assert len(src.video_ids) == 6
    (tmp_path / "src/Thumos14reduced-Annotations/duration.npy").unlink()
    with pytest.raises(DataError, match=r"duration\.npy: W-TALC annotation file not found"):
        read_wtalc(tmp_path / "src", allow_pickle=True)


def test_unknown_subsets_need_explicit_names(tmp_path: Path) -> None:
    write_wtalc(tmp_path / "src")
    ann = tmp_path / "src/Thumos14reduced-Annotations"
    np.save(ann / "subset.npy", np.array([b"a", b"a", b"a", b"a", b"b", b"b"]))
    with pytest.raises(ConfigError, match="--train-subset"):
        read_wtalc(tmp_path / "src", allow_pickle=True)
    src = read_wtalc(tmp_path / "src", allow_pickle=True, train_subset="a", test_subset="b")
    assert len(src.annotations.ids("a")) == 4


# -- UM / BaS-Net -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_splits", [True, False])
def test_um_reader(tmp_path: Path, with_splits: bool) -> None:
    gt = write_um(tmp_path / "src", with_splits=with_splits)
    src = read_um(tmp_path / "src")
    assert src.dropped == ["video_test_0000270"]
    assert src.annotations.ids("validation") == ["video_validation_1", "video_validation_2", "video_validation_3"]
    assert src.annotations.ids("test") == ["video_test_1", "video_test_2"]
    x = src.features("video_test_2")
    np.testing.assert_array_equal(x["flow"], gt["features"]["video_test_2"]["flow"])
    assert src.annotations.extra == {"version": "THUMOS14"}


def test_convert_um_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = write_um(tmp_path / "src")
    out = tmp_path / "native"
    assert main(["data", "convert", str(tmp_path / "src"), "--layout", "um", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 5 videos" in printed and "left out 1 annotated videos without features: video_test_0000270" in printed
    assert check_dataset(out) == []
    ds = FeatureDataset(out)
    for vid, streams in gt["features"].items():
        for stream, x in streams.items():
            np.testing.assert_array_equal(ds.features(vid, stream), x)
        assert ds.annotation(vid).duration == gt["database"][vid]["duration"]


def test_convert_notes_problems_of_the_source(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_um(tmp_path / "src")
    gt = json.loads((tmp_path / "src/gt.json").read_text())
    gt["database"]["video_test_1"]["annotations"][0]["segment"] = [0.5, 500.0]  # like THUMOS14's overruns
    (tmp_path / "src/gt.json").write_text(json.dumps(gt))
    assert main(["data", "convert", str(tmp_path / "src"), "--layout", "um", "--out", str(tmp_path / "out")]) == 0
    assert "reports 1 problem(s) in the source data" in capsys.readouterr().out
    assert len(FeatureDataset(tmp_path / "out").annotation("video_test_1").segments) == 1


def test_um_problems(tmp_path: Path) -> None:
    write_um(tmp_path / "src")
    (tmp_path / "src/features/test/flow/video_test_1.npy").unlink()
    with pytest.raises(
        DataError, match=r"flow/video_test_1\.npy: feature file not found \(video listed in test split\)"
    ):
        read_um(tmp_path / "src")
    write_um(tmp_path / "src2")
    gt = json.loads((tmp_path / "src2/gt.json").read_text())
    del gt["database"]["video_validation_2"]
    (tmp_path / "src2/gt.json").write_text(json.dumps(gt))
    with pytest.raises(DataError, match=r"gt\.json: video 'video_validation_2' has features but no entry"):
        read_um(tmp_path / "src2")
    write_um(tmp_path / "src3")
    np.save(tmp_path / "src3/features/train/rgb/video_validation_1.npy", np.zeros((4, 4), np.int64))
    with pytest.raises(DataError, match=r"rgb/video_validation_1\.npy: expected a float array"):
        convert_dataset(tmp_path / "src3", tmp_path / "out", "um")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="wtalc layout only"):
        convert_dataset(tmp_path / "src", tmp_path / "out", "um", allow_pickle=True)


# -- destination handling -----------------------------------------------------------------------------------------
def test_output_folder_rules(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_um(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    convert_dataset(tmp_path / "src", out, "um")  # an empty folder is fine
    (out / "keep.txt").write_text("old")
    with pytest.raises(ConfigError, match="not empty; pass --overwrite"):
        convert_dataset(tmp_path / "src", out, "um")
    assert (out / "keep.txt").exists()
    args = ["data", "convert", str(tmp_path / "src"), "--layout", "um", "--out", str(out)]
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 2  # a file cotal did not make is never deleted
    assert "keep.txt, which cotal did not make" in capsys.readouterr().err and (out / "keep.txt").exists()
    (out / "keep.txt").unlink()
    assert main([*args, "--overwrite", "--fps", "30", "--stride", "8"]) == 0
    assert FeatureDataset(out).timing.seconds_per_snippet == pytest.approx(8 / 30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for target in (tmp_path, tmp_path / "src", tmp_path / "src" / "features"):  # contains, is, inside the source
        with pytest.raises(ConfigError, match="overlaps the input"):
            convert_dataset(tmp_path / "src", target, "um", overwrite=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_failure_keeps_the_previous_output(tmp_path: Path) -> None:
    write_um(tmp_path / "src")
    out = tmp_path / "out"
    convert_dataset(tmp_path / "src", out, "um")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    np.save(tmp_path / "src/features/test/rgb/video_test_2.npy", np.full((12, 4), np.inf, np.float32))
    with pytest.raises(DataError, match="NaN/Inf"):
        convert_dataset(tmp_path / "src", out, "um", overwrite=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]
