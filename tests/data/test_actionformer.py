"""The ActionFormer layout in, window-vs-stride timing, v_ prefixes, and datasets without annotations.json."""

from __future__ import annotations

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.data import FeatureDataset, convert_dataset
from cotal.data.timing import SnippetTiming
from cotal.errors import ConfigError, DataError
from cotal.utils.io import write_json, write_npy


def _actionformer(
    root, ids, *, file_ids=None, subsets=("Validation", "Test"), fps=30.0, dim=6, feat_dir="i3d_features"
):
    """A small ActionFormer-style dataset: joint (T, 2*dim) features, RGB dims first."""
    rng = np.random.default_rng(0)
    db = {}
    for k, vid in enumerate(ids):
        T = 20 + k
        x = np.concatenate([np.full((T, dim), k, np.float32), -np.full((T, dim), k, np.float32)], axis=1)
        x += rng.normal(scale=0.01, size=x.shape).astype(np.float32)
        write_npy(root / feat_dir / f"{(file_ids or ids)[k]}.npy", x)
        label = ["Diving", "Shotput"][k % 2]
        db[vid] = {
            "subset": subsets[k % 2],
            "duration": (T * 4 + 12) / 30.0,
            "fps": fps if not isinstance(fps, list) else fps[k],
            "annotations": [{"label": label, "segment": [0.5, 1.5], "segment(frames)": [15, 45], "label_id": k % 2}],
        }
    write_json(root / "annotations" / "thumos14.json", {"version": "Thumos14-30fps", "database": db})
    return root


def test_thumos_style_features_are_split_and_timed(tmp_path):
    src = _actionformer(tmp_path / "thumos", [f"video_{i}" for i in range(4)])
    report = convert_dataset(src, tmp_path / "out", "actionformer", stride=4, window=16)
    assert report.videos == 4 and report.streams == ("rgb", "flow")
    ds = FeatureDataset(tmp_path / "out")
    assert (ds.meta.fps, ds.meta.stride, ds.meta.window) == (30.0, 4.0, 16.0)
    assert set(ds.annotations.subsets) == {"validation", "test"} and ds.meta.train_subset == "validation"
    rgb, flow = ds.features("video_2", "rgb"), ds.features("video_2", "flow")
    assert rgb.shape == flow.shape == (22, 6) and rgb.mean() > 1.9 and flow.mean() < -1.9
    # Feature i is centred on frame 4i + 8: snippet 0 spans [6, 10) frames, i.e. starts 0.2 s in.
    assert ds.timing.to_seconds(0) == pytest.approx(0.2) and ds.timing.to_seconds(10) == pytest.approx(46 / 30)
    assert ds.timing.expected_snippets(ds.annotation("video_2").duration) == 22


def test_activitynet_ids_match_with_and_without_the_v_prefix(tmp_path):
    ids = ["abc123", "v_def456", "ghi789"]
    files = ["v_abc123", "def456", "ghi789"]
    src = _actionformer(tmp_path / "anet", ids, file_ids=files, subsets=("training", "validation"), feat_dir="tsp")
    report = convert_dataset(src, tmp_path / "out", "actionformer", stride=16, window=16, rgb_dim=12)
    assert report.streams == ("rgb",) and report.dropped == ()
    ds = FeatureDataset(tmp_path / "out")
    assert ds.video_ids() == sorted(ids) and ds.feature_dim("rgb") == 12
    assert ds.meta.window == 16 and ds.timing.offset_seconds == 0


def test_actionformer_errors_are_one_line(tmp_path, capsys):
    src = _actionformer(tmp_path / "a", ["x", "y"], fps=[30.0, 25.0])
    with pytest.raises(DataError, match="per-video fps 25.0, 30.0.*--fps"):
        convert_dataset(src, tmp_path / "o1", "actionformer", stride=4, window=16)
    convert_dataset(src, tmp_path / "o2", "actionformer", stride=4, window=16, fps=30.0)  # the user says it is one
    with pytest.raises(ConfigError, match="--stride and --window"):
        convert_dataset(src, tmp_path / "o3", "actionformer", stride=4)
    with pytest.raises(ConfigError, match="--window applies to the actionformer layout only"):
        convert_dataset(src, tmp_path / "o4", "um", window=16)
    assert main(["data", "convert", str(src), "--layout", "actionformer", "--out", str(tmp_path / "o5")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_window_timing_round_trips():
    t = SnippetTiming(fps=30.0, stride=4.0, window=16.0)
    x = np.array([0.0, 3.5, 100.25])
    np.testing.assert_allclose(t.to_index(t.to_seconds(x)), x)
    for duration in (0.6, 1.0, 7.3, 100.0):
        n = t.expected_snippets(duration)
        assert t.duration(n) <= duration + 1e-9 < t.duration(n + 1)
    with pytest.raises(DataError, match="shorter than stride"):
        SnippetTiming(fps=30.0, stride=16.0, window=8.0)
    plain = SnippetTiming(fps=25.0, stride=16.0)
    assert plain.duration(10) == pytest.approx(6.4) and plain.to_seconds(1) == pytest.approx(0.64)


def test_a_folder_of_features_needs_no_annotations(tmp_path, toy_dataset):
    (toy_dataset / "annotations.json").unlink()
    ds = FeatureDataset(toy_dataset)
    assert len(ds.video_ids()) == 12 and set(ds.annotations.subsets) == {ds.meta.test_subset}
    vid = ds.video_ids()[0]
    assert ds.annotation(vid).duration == pytest.approx(ds.num_snippets(vid) * ds.timing.seconds_per_snippet)
    assert ds.annotation(vid).labels == ()


def test_eval_matches_detection_ids_with_or_without_v_prefix(toy_dataset, tmp_path, capsys):
    from cotal.data import FeatureDataset as Dataset
    from cotal.evaluate import write_detections

    ann = Dataset(toy_dataset).annotations
    dets = {
        f"v_{v}": [
            {"segment": s.tolist(), "label": lab, "score": 1.0}
            for s, lab in zip(ann[v].segments, ann[v].labels, strict=True)
        ]
        for v in ann.ids("test")
    }
    write_detections(tmp_path / "d.json", dets)
    args = ["eval", "--data", str(toy_dataset), "--detections", str(tmp_path / "d.json"), "--tiou", "0.5"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "adding or removing 'v_'" in text and "100.00" in text
