"""Extraction settings and inputs that need no decoder: the config's checks, shards, finding videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from cotal.cli import extract as extract_cli
from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig
from cotal.features.inputs import find_videos


def test_shard_from_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert ExtractConfig().resolved_shard == (2, 4)
    assert ExtractConfig(shard=(0, 1)).resolved_shard == (0, 1)
    with pytest.raises(ConfigError, match="--shard"):
        extract_cli.parse_shard("3/3")
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match=r"^RANK / WORLD_SIZE: expected \(index, count\)"):
        _ = ExtractConfig().resolved_shard
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(ConfigError, match="WORLD_SIZE='four' is not an integer"):
        _ = ExtractConfig().resolved_shard


def test_duplicate_video_ids_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.touch()  # finding videos opens no file
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / src.name).touch()
    with pytest.raises(ConfigError, match="given twice"):
        find_videos([src, tmp_path / "a"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (dict(streams=("depth",)), "streams must be a non-empty subset of rgb, flow"),
        (dict(size=224, resize_short=200), r"resize_short \(200\) must be >= size \(224\)"),
        (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (dict(stride=4), "stride must be an integer >= 8, got 4"),
        (dict(flow_method="lk"), "flow_method: 'lk' is not one of 'dis', 'tvl1', 'farneback'"),
        (dict(subset=""), "subset must be a non-empty string"),
        (dict(shard=(2, 2)), r"shard: expected \(index, count\) with 0 <= index < count, got \(2, 2\)"),
    ],
)
def test_bad_settings_are_refused_when_the_config_is_built(bad: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        ExtractConfig(**bad)


def test_default_batch_keeps_the_pixels_per_network_call() -> None:
    assert [ExtractConfig(size=s).batch for s in (224, 112, 448)] == [8, 32, 2]
    assert ExtractConfig(size=112, batch_size=3).batch == 3
