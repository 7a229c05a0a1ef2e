"""Label-free choices of the clustering: ``cluster.center: auto`` from the share of per-video constant variance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.cluster.choices import CENTER_THRESHOLD, CenterChoice, choose_center, video_share
from cotal.data import FeatureDataset
from cotal.data.normalize import fit_normalization
from cotal.utils.io import write_npy
from tests.toy_data import write_toy_dataset


def _with_signatures(root, strength: float, seed: int = 0) -> FeatureDataset:
    """The toy videos plus a per-video constant (a 'subject' of 4, unrelated to the class) of the given norm."""
    ds = FeatureDataset(root)
    rng = np.random.default_rng(seed)
    subjects = rng.normal(size=(4, 8))
    subjects *= strength / np.linalg.norm(subjects, axis=1, keepdims=True)
    for i, vid in enumerate(ds.video_ids()):
        for stream in ds.streams:
            write_npy(root / stream / f"{vid}.npy", np.asarray(ds.features(vid, stream)) + subjects[(7 * i) % 4])
    return FeatureDataset(root)


def _share(ds: FeatureDataset) -> float:
    norm = fit_normalization(ds, ds.train_ids, ds.streams, "zscore")
    return video_share(ds, ds.train_ids, ds.streams, norm)


def test_the_share_grows_with_a_per_video_constant(tmp_path) -> None:
    shares = [_share(_with_signatures(write_toy_dataset(tmp_path / f"d{s}", num_videos=24), s)) for s in (0, 3, 12)]
    assert shares[0] < CENTER_THRESHOLD < shares[2]
    assert shares[0] < shares[1] < shares[2] < 1


def test_auto_centres_only_above_the_threshold(tmp_path) -> None:
    plain = FeatureDataset(write_toy_dataset(tmp_path / "plain", num_videos=24))
    signed = _with_signatures(write_toy_dataset(tmp_path / "signed", num_videos=24), 12)
    for ds, expect in ((plain, False), (signed, True)):
        norm = fit_normalization(ds, ds.train_ids, ds.streams, "zscore")
        choice = choose_center("auto", ds, ds.train_ids, ds.streams, norm)
        assert choice.center is expect and choice.setting == "auto"
        assert (choice.video_share > CENTER_THRESHOLD) is expect
        assert ("> 0.25" if expect else "<= 0.25") in choice.describe()
    fixed = choose_center(True, plain, plain.train_ids, plain.streams, None)
    assert fixed == CenterChoice(center=True, setting=True) and fixed.video_share is None


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory):
    from cotal.config import load_config
    from cotal.pipeline import fit

    root = tmp_path_factory.mktemp("choices")
    ds = _with_signatures(write_toy_dataset(root / "data", num_videos=24), 12)
    config = load_config(None, {"pipeline": {"clusters": 3, "rounds": 1}, "model": {"base_dim": 16}})
    config.train.epochs, config.train.batch_size, config.train.device = 1, 6, "cpu"
    metrics = fit(ds.root, root / "run", config, progress=False)
    return ds.root, root / "run", metrics


def test_a_run_records_the_choice_and_why(signed_run) -> None:
    _, run, metrics = signed_run
    choice = metrics["choices"]["center"]
    assert choice["setting"] == "auto" and choice["center"] is True and choice["video_share"] > CENTER_THRESHOLD
    assert json.loads((run / "choices.json").read_text())["center"] == choice
    assert "cluster.center=auto: " in (run / "log.txt").read_text()


def test_cotal_cluster_makes_the_same_choice(signed_run, tmp_path, capsys) -> None:
    data, run, _ = signed_run
    out = tmp_path / "c.json"
    assert main(["cluster", "--data", str(data), "--clusters", "3", "--out", str(out)]) == 0
    assert "descriptors centred on each video's median snippet" in capsys.readouterr().out
    assert json.loads(out.read_text()) == json.loads((run / "round_0" / "clusters.json").read_text())
