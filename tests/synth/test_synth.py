"""cotal.synth: determinism, layout, skeleton handling, nuisances and the ``cotal synth`` command."""

from __future__ import annotations

import hashlib
import json
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cotal.cli.main import main as cli_main
from cotal.data import FeatureDataset, SnippetTiming
from cotal.data.check import check_dataset
from cotal.errors import ConfigError
from cotal.synth import SynthConfig, SynthGenerator, generate_features, load_skeleton
from cotal.utils.io import read_json, write_json

SMALL = SynthConfig(
    dim=24,
    latent_dim=16,
    num_videos=14,
    num_classes=3,
    min_duration=8.0,
    max_duration=40.0,
    max_segments=4,
    max_segment_length=6.0,
    num_scenes=4,
    num_background_types=3,
    background_types_per_video=2,
)


def tree_hashes(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` but the marker (which records the folder itself)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".cotal.json"
    }


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_features(tmp_path_factory.mktemp("synth") / "a", skeleton=None, config=SMALL, seed=3)


def test_same_seed_is_byte_identical_and_other_seed_differs(small_dataset: Path, tmp_path: Path) -> None:
    again = generate_features(tmp_path / "b", skeleton=None, config=SMALL, seed=3)
    assert tree_hashes(again) == tree_hashes(small_dataset)
    other = tree_hashes(generate_features(tmp_path / "c", skeleton=None, config=SMALL, seed=4))
    features = [k for k in other if k.endswith(".npy")]
    assert features and all(other[k] != tree_hashes(small_dataset).get(k) for k in features)


def test_layout_shapes_and_checks(small_dataset: Path) -> None:
    ds = FeatureDataset(small_dataset)
    timing = SnippetTiming(fps=SMALL.fps, stride=SMALL.stride)
    assert ds.streams == ("rgb", "flow")
    assert len(ds.train_ids) + len(ds.test_ids) == SMALL.num_videos
    assert ds.train_ids and ds.test_ids
    assert ds.classes == ["class_00", "class_01", "class_02"]
    for vid in ds.video_ids():
        v = ds.annotation(vid)
        for stream in ds.streams:
            x = np.load(ds.feature_path(vid, stream))
            assert x.dtype == np.float32
            assert x.shape == (max(1, timing.expected_snippets(v.duration)), SMALL.dim)
        assert np.all(v.segments[:, 1] > v.segments[:, 0])
        assert np.all((v.segments >= 0) & (v.segments <= v.duration))
    assert check_dataset(small_dataset) == []
    assert read_json(small_dataset / "synth.json")["seed"] == 3


def test_features_do_not_depend_on_subsampling(small_dataset: Path, tmp_path: Path) -> None:
    sub = generate_features(tmp_path / "sub", skeleton=None, config=replace(SMALL, max_videos=5), seed=3)
    kept = FeatureDataset(sub).video_ids()
    assert 2 <= len(kept) < SMALL.num_videos
    assert FeatureDataset(sub).train_ids and FeatureDataset(sub).test_ids  # stratified by subset
    full, part = tree_hashes(small_dataset), tree_hashes(sub)
    for vid in kept:
        for stream in ("rgb", "flow"):
            assert part[f"{stream}/{vid}.npy"] == full[f"{stream}/{vid}.npy"]
    smaller = generate_features(tmp_path / "sub3", skeleton=None, config=replace(SMALL, max_videos=3), seed=3)
    assert set(FeatureDataset(smaller).video_ids()) <= set(kept)  # nested subsamples


def test_real_skeleton_subsets_and_clipping(tmp_path: Path) -> None:
    thumos = load_skeleton("thumos14", SMALL, seed=0)
    assert (thumos.train_subset, thumos.test_subset) == ("validation", "test")
    assert len(thumos.classes) == 20 and len(thumos.annotations.ids("validation")) == 200
    assert thumos.dropped_segments > 0  # THUMOS14 lists segments that start after the video ends
    for v in thumos.annotations.values():
        assert np.all(
            (v.segments[:, 0] >= 0) & (v.segments[:, 1] <= v.duration) & (v.segments[:, 1] > v.segments[:, 0])
        )
    out = generate_features(tmp_path / "t", skeleton="thumos14", config=replace(SMALL, max_videos=4), seed=0)
    ds = FeatureDataset(out)
    assert ds.meta.train_subset == "validation" and ds.meta.test_subset == "test"
    assert len(ds.train_ids) == 2 and len(ds.test_ids) == 2
    assert check_dataset(out) == []


def test_cooccurring_classes_share_a_family_and_subsampling_keeps_families() -> None:
    full = load_skeleton("thumos14", SMALL, seed=0)
    fam = dict(zip(full.classes, full.families, strict=True))
    assert fam["CricketBowling"] == fam["CricketShot"] and fam["CliffDiving"] == fam["Diving"]
    assert fam["CricketBowling"] != fam["Diving"]
    assert max(list(full.families).count(f) for f in set(full.families)) <= SMALL.family_size
    assert load_skeleton("thumos14", replace(SMALL, max_videos=3), seed=0).families == full.families


def test_activitynet_drops_unlabelled_testing_videos() -> None:
    anet = load_skeleton("activitynet12", replace(SMALL, max_videos=20), seed=0)
    assert (anet.train_subset, anet.test_subset) == ("training", "validation")
    assert anet.annotations.subsets == ["training", "validation"]
    assert anet.clipped_segments > 0 and len(anet.classes) == 100


def test_custom_skeleton_clips_and_drops(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    db = {
        "a": {"subset": "train", "duration": 10.0, "annotations": [{"segment": [8.0, 12.0], "label": "x"}]},
        "b": {"subset": "test", "duration": 10.0, "annotations": [{"segment": [11.0, 12.0], "label": "y"}]},
        "c": {"subset": "test", "duration": 0.2, "annotations": [{"segment": [0.0, 0.1], "label": "y"}]},
    }
    write_json(path, {"database": db})
    out = generate_features(tmp_path / "d", skeleton=path, config=SMALL, seed=0)
    info = read_json(out / "synth.json")
    assert (info["clipped_segments"], info["dropped_segments"]) == (1, 1)
    ds = FeatureDataset(out)
    assert ds.meta.train_subset == "train" and ds.meta.test_subset == "test"
    np.testing.assert_allclose(ds.annotation("a").segments, [[8.0, 10.0]])
    assert len(ds.annotation("b").segments) == 0
    assert ds.num_snippets("c") == 1  # shorter than one snippet: still T = 1


def _mean_pooled(gen: SynthGenerator, vid: str, stream: str) -> np.ndarray:
    x = gen.video(vid)[stream].mean(axis=0)
    return x / np.linalg.norm(x)


def test_nuisances_scene_dominates_mean_pooling_and_actions_share_a_class_signal() -> None:
    config = replace(SMALL, dim=48, latent_dim=48, num_videos=60, num_classes=6, max_duration=60.0, max_segments=6)
    skel = load_skeleton(None, config, seed=0)
    gen = SynthGenerator(skel, config, seed=0)
    ann = skel.annotations
    vids = ann.ids()
    scene = np.array([gen.plan(ann[v]).scene for v in vids])
    label = np.array([skel.classes.index(ann[v].labels[0]) if ann[v].labels else -1 for v in vids])
    off_diag = ~np.eye(len(vids), dtype=bool)
    same_scene = (scene[:, None] == scene[None, :]) & off_diag
    same_class = (label[:, None] == label[None, :]) & off_diag
    gaps = {}
    for stream in ("rgb", "flow"):
        d = np.stack([_mean_pooled(gen, v, stream) for v in vids])
        sim = d @ d.T
        # RGB mean pooling groups by scene more than by action; flow less so.
        gaps[stream] = sim[same_scene & ~same_class].mean() - sim[~same_scene & same_class].mean()
    assert gaps["rgb"] > 0
    assert gaps["rgb"] > gaps["flow"]

    # Action snippets of a class resemble each other across videos more than background snippets do.
    act, act_cls, act_vid, bg, bg_vid = [], [], [], [], []
    for i, v in enumerate(vids):
        x = np.concatenate([gen.video(v)[s] for s in ("rgb", "flow")], axis=1)
        mask = gen.timing.segment_mask(ann[v].segments, len(x))
        if ann[v].labels and len(set(ann[v].labels)) == 1:
            act.append(x[mask >= 0.99])
            act_cls += [label[i]] * int((mask >= 0.99).sum())
            act_vid += [i] * int((mask >= 0.99).sum())
        bg.append(x[mask == 0])
        bg_vid += [i] * int((mask == 0).sum())
    a = np.concatenate(act)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = np.concatenate(bg)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    act_cls, act_vid, bg_vid = np.array(act_cls), np.array(act_vid), np.array(bg_vid)
    aa, ab = a @ a.T, a @ b.T
    cross = act_vid[:, None] != act_vid[None, :]
    same = aa[cross & (act_cls[:, None] == act_cls[None, :])].mean()
    assert same > aa[cross & (act_cls[:, None] != act_cls[None, :])].mean()
    assert same > ab[act_vid[:, None] != bg_vid[None, :]].mean()


def test_snippets_are_temporally_smooth() -> None:
    config = replace(SMALL, num_videos=4, min_duration=60.0, max_duration=80.0)
    gen = SynthGenerator(load_skeleton(None, config, seed=1), config, seed=1)
    x = gen.video("synth_00000")["flow"]
    x = x - x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    near = np.mean(np.sum(x[1:] * x[:-1], axis=1))
    far = np.mean(np.sum(x[20:] * x[:-20], axis=1))
    assert near > far + 0.1


def test_nonnegative_option_and_common_offset() -> None:
    plain = SynthGenerator(load_skeleton(None, SMALL, seed=2), SMALL, seed=2).video("synth_00001")["rgb"]
    assert (plain < 0).any()
    config = replace(SMALL, nonnegative=True, rgb=replace(SMALL.rgb, common=4.0))
    x = SynthGenerator(load_skeleton(None, config, seed=2), config, seed=2).video("synth_00001")["rgb"]
    assert x.shape == plain.shape and (x >= 0).all()
    # The offset is a positive constant per dimension, so ReLU keeps most entries (unlike ReLU of centred data).
    assert np.mean(x > 0) > np.mean(plain > 0) + 0.2


@pytest.mark.parametrize(
    "bad", [{"dim": 0}, {"noise_ar": 1.0}, {"min_duration": 50.0, "max_duration": 10.0}, {"scene_affinity": 1.5}]
)
def test_invalid_config_raises(bad: dict) -> None:
    with pytest.raises(ConfigError):
        SynthConfig(**bad)


def test_cli_refuses_non_empty_folder_and_overwrites_on_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["synth", "--out", str(out), "--videos", "6", "--classes", "2", "--dim", "8", "--max-duration", "30"]
    assert cli_main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert cli_main([*args, "--overwrite"]) == 2  # a folder cotal did not make is never replaced
    assert "delete it yourself" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert cli_main(args) == 0
    assert cli_main(args) == 2 and "not empty" in capsys.readouterr().err
    assert cli_main([*args, "--overwrite"]) == 0
    assert len(FeatureDataset(out)) == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_cli_set_overrides_any_knob(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s"
    base = ["synth", "--out", str(out), "--videos", "4", "--classes", "2", "--dim", "8", "--max-duration", "20"]
    assert cli_main([*base, "--set", "noise_ar=0.6", "--set", "rgb.noise=0.25", "--set", "nonnegative=true"]) == 0
    config = read_json(out / "synth.json")["config"]
    assert (config["noise_ar"], config["rgb"]["noise"], config["flow"]["noise"]) == (0.6, 0.25, SMALL.flow.noise)
    assert config["nonnegative"] is True
    for bad in ("rgb.nope=1", "noise_ar", "noise_ar=high", "dim=2.5"):
        assert cli_main([*base, "--overwrite", "--set", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err


def test_cli_bad_option_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--videos", "0"]) == 2
    assert "num_videos" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_render_videos_calls_the_renderer_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_render(out_dir: Path, **kwargs: object) -> None:
        calls.append(kwargs)
        (Path(out_dir) / "videos.json").write_text(json.dumps(kwargs))

    monkeypatch.setitem(sys.modules, "cotal.synth.videos", types.SimpleNamespace(render_video_dataset=fake_render))
    out = tmp_path / "vids"
    assert cli_main(["synth", "--out", str(out), "--render-videos", "--videos", "3", "--seed", "5"]) == 0
    assert calls and calls[0]["num_videos"] == 3 and calls[0]["seed"] == 5
    assert set(calls[0]) == {
        "num_videos",
        "num_classes",
        "seed",
        "width",
        "height",
        "fps",
        "min_duration",
        "max_duration",
    }
    assert (out / "videos.json").is_file()
