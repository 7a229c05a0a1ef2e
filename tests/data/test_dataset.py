"""FeatureDataset: one cached read-only array per file, header-only shapes, strict mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cotal.data import FeatureDataset, check_dataset
from cotal.data.dataset import load_feature_file
from cotal.errors import DataError


def test_features_are_cached_read_only_and_match_the_file(toy_dataset: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    x = ds.features("video_0001", "rgb")
    assert isinstance(x, np.memmap) and not x.flags.writeable
    assert ds.features("video_0001", "rgb") is x  # never a second mapping or copy of the same file
    np.testing.assert_array_equal(x, np.load(toy_dataset / "rgb/video_0001.npy"))
    with pytest.raises(ValueError):
        x[0, 0] = 1.0


def test_in_ram_mode_is_cached_and_read_only_too(toy_dataset: Path) -> None:
    ds = FeatureDataset(toy_dataset, mmap=False)
    x = ds.features("video_0001", "flow")
    assert not isinstance(x, np.memmap) and not x.flags.writeable
    assert ds.features("video_0001", "flow") is x


def test_cache_is_bounded(toy_dataset: Path) -> None:
    ds = FeatureDataset(toy_dataset, cache_size=2)
    first = ds.features("video_0000", "rgb")
    ds.features("video_0001", "rgb")
    assert ds.features("video_0000", "rgb") is first  # refreshed: now most recent
    ds.features("video_0002", "rgb")  # evicts video_0001
    assert len(ds._cache) == 2 and ("video_0001", "rgb") not in ds._cache


def test_shapes_come_from_headers(toy_dataset: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    T = np.load(toy_dataset / "rgb/video_0005.npy").shape[0]
    assert ds.num_snippets("video_0005") == T
    assert ds.feature_dim("flow") == 8
    assert ds._cache == {}  # nothing was mapped
    joint = ds.joint_features("video_0005")
    assert joint.shape == (T, 16) and joint.dtype == np.float32


def test_joint_features_reject_different_lengths(toy_dataset: Path) -> None:
    T = np.load(toy_dataset / "rgb/video_0000.npy").shape[0]
    np.save(toy_dataset / "flow/video_0000.npy", np.zeros((T - 1, 8), np.float32))
    with pytest.raises(DataError, match="streams have different lengths"):
        FeatureDataset(toy_dataset).joint_features("video_0000")


def _thumos_like(root: Path) -> None:
    """A segment ending 4.7 s after the video, as in THUMOS14's video_validation_0000364."""
    db = json.loads((root / "annotations.json").read_text())
    entry = db["database"]["video_0000"]
    entry["annotations"].append({"segment": [entry["duration"] - 1.0, entry["duration"] + 4.7], "label": "class_0"})
    (root / "annotations.json").write_text(json.dumps(db))


def test_segments_past_the_end_load_but_strict_raises_the_check_message(toy_dataset: Path) -> None:
    _thumos_like(toy_dataset)
    [problem] = check_dataset(toy_dataset)
    ds = FeatureDataset(toy_dataset)
    assert len(ds.annotation("video_0000").segments) == 2
    with pytest.raises(DataError) as err:
        FeatureDataset(toy_dataset, strict=True)
    assert str(err.value) == str(problem)


def test_strict_checks_length_on_access(toy_dataset: Path) -> None:
    t = np.load(toy_dataset / "rgb/video_0000.npy").shape[0]
    off = int(1.5 * t)  # inconsistent, but within what the lenient loader tolerates
    np.save(toy_dataset / "rgb/video_0000.npy", np.zeros((off, 8), np.float32))
    assert FeatureDataset(toy_dataset).features("video_0000", "rgb").shape == (off, 8)
    with pytest.raises(DataError, match=f"T = {off} snippets"):
        FeatureDataset(toy_dataset, strict=True).features("video_0000", "rgb")


def test_lenient_loader_refuses_a_file_far_longer_than_its_video(toy_dataset: Path) -> None:
    np.save(toy_dataset / "rgb/video_0000.npy", np.zeros((200, 8), np.float32))  # the video lasts 20-40 snippets
    with pytest.raises(DataError, match="T = 200 snippets"):
        FeatureDataset(toy_dataset).features("video_0000", "rgb")


def test_load_feature_file_without_mmap_reads_a_plain_copy(toy_dataset: Path) -> None:
    x = load_feature_file(toy_dataset / "rgb/video_0000.npy", mmap=False)
    assert type(x) is np.ndarray and x.dtype == np.float32
