"""``cotal extract`` end to end: layout, failures, resuming, sharding, settings."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.cli import extract as extract_cli
from cotal.data import FeatureDataset, SnippetTiming, load_annotations
from cotal.errors import ConfigError, CotalError
from cotal.features.config import ExtractConfig
from cotal.features.inputs import shard_ids
from cotal.features.weights import build_i3d
from tests.extras import skip_without_extra

skip_without_extra("extract")

from cotal.features.extract import extract_features  # noqa: E402
from cotal.features.flow import FlowDescriptor  # noqa: E402
from cotal.features.outputs import merge_outputs  # noqa: E402
from cotal.features.video import iter_frames  # noqa: E402

FAST = dict(size=112, progress=False)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    extract_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["extract", *argv])
    return args.func(args)


def test_extract_writes_a_loadable_dataset(tiny_videos: Path, i3d_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "feats"
    cfg = ExtractConfig(annotations=str(tiny_videos / "annotations.json"), train_subset="validation", **FAST)
    report = extract_features([tiny_videos / "videos"], out, cfg)
    assert report.ok and len(report.done) == 3 and report.snippets > 0
    ds = FeatureDataset(out)
    truth = load_annotations(tiny_videos / "annotations.json")
    assert ds.streams == ("rgb", "flow") and sorted(ds.annotations) == sorted(truth)
    assert (ds.meta.fps, ds.meta.stride, ds.meta.train_subset, ds.meta.test_subset) == (25, 16, "validation", "test")
    timing = SnippetTiming(fps=25, stride=16)
    for vid, gt in truth.items():
        x = ds.joint_features(vid)
        assert x.shape == (timing.expected_snippets(gt.duration), 1024 + FlowDescriptor().dim)
        assert ds.annotation(vid).duration == pytest.approx(gt.duration)
        np.testing.assert_allclose(ds.annotation(vid).segments, gt.segments)  # ground truth copied from --annotations
        assert ds.annotation(vid).subset == gt.subset
        assert np.linalg.norm(ds.features(vid, "flow"), axis=1) == pytest.approx(1.0, abs=1e-5)
        assert ds.features(vid, "rgb").std() > 0
    # the pipeline (worker thread, uint8 batches, inference-form network) gives the plain module's features
    vid = sorted(truth)[0]
    frames = np.stack(
        [f for _, f in iter_frames(tiny_videos / "videos" / f"{vid}.mp4", fps=25, resize_short=128, crop=112)]
    )
    snippets = frames[: len(frames) // 16 * 16].reshape(-1, 16, 112, 112, 3).astype(np.float32) / 127.5 - 1.0
    with torch.inference_mode():
        plain = build_i3d(i3d_weights).features(torch.from_numpy(snippets).permute(0, 4, 1, 2, 3)).numpy()
    got = ds.features(vid, "rgb")
    assert np.linalg.norm(got - plain) / np.linalg.norm(plain) < 1e-4


def test_failures_are_reported_and_skipped(tiny_videos: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.mp4"
    empty.touch()
    missing = tmp_path / "missing.mp4"
    good = sorted((tiny_videos / "videos").glob("*.mp4"))[:2]
    out = tmp_path / "feats"
    rc = _cli([str(p) for p in (good[0], bad, empty, missing, good[1])] + ["--out", str(out), "--streams", "flow"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [line for line in err.splitlines() if "skipped" in line]
    assert len(lines) == 3
    for path, reason in ((bad, "cannot open video"), (empty, "file is empty"), (missing, "file not found")):
        assert sum(str(path) in line and reason in line for line in lines) == 1
    assert sorted(FeatureDataset(out).annotations) == sorted(p.stem for p in good)


def test_resume_skips_finished_videos_and_refuses_other_settings(tiny_videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "feats"
    videos = tiny_videos / "videos"
    cfg = ExtractConfig(streams=("flow",), **FAST)
    first = extract_features([videos], out, cfg)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "flow").iterdir()}
    second = extract_features([videos], out, cfg)
    assert sorted(second.skipped) == sorted(first.done) and not second.done and second.snippets == 0
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "flow").iterdir()}
    # a deleted output is recomputed, the others are not
    victim = sorted((out / "flow").iterdir())[0]
    victim.unlink()
    third = extract_features([videos], out, cfg)
    assert third.done == [victim.stem] and len(third.skipped) == 2
    with pytest.raises(ConfigError, match="fps=25.0, not 30.0"):
        extract_features([videos], out, ExtractConfig(streams=("flow",), fps=30.0, **FAST))
    assert extract_features([videos], out, ExtractConfig(streams=("flow",), fps=30.0, overwrite=True, **FAST)).ok


def test_a_run_that_wrote_no_feature_does_not_bind_the_settings(tiny_videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "feats"
    videos = tiny_videos / "videos"
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(CotalError, match="bad.pt"):
        extract_features([videos], out, ExtractConfig(streams=("rgb",), rgb_weights=str(bad), **FAST))
    assert not list(out.glob("*/*.npy")) and (out / "extraction.yaml").exists()
    assert extract_features([videos], out, ExtractConfig(streams=("flow",), fps=30.0, **FAST)).ok  # not refused
    with pytest.raises(ConfigError, match="fps=30.0, not 25.0"):  # now features exist, and they bind
        extract_features([videos], out, ExtractConfig(streams=("flow",), **FAST))


def test_shards_partition_the_videos_and_merge(tiny_videos: Path, tmp_path: Path) -> None:
    ids = [f"v{i:02d}" for i in range(11)]
    parts = [shard_ids(ids, i, 3) for i in range(3)]
    assert sorted(sum(parts, [])) == ids and all(set(a).isdisjoint(b) for a in parts for b in parts if a is not b)

    out = tmp_path / "feats"
    videos = tiny_videos / "videos"
    done = []
    for i in range(2):
        report = extract_features([videos], out, ExtractConfig(streams=("flow",), shard=(i, 2), **FAST))
        done.append(set(report.done))
    assert done[0].isdisjoint(done[1]) and done[0] | done[1] == {p.stem for p in videos.glob("*.mp4")}
    assert len(FeatureDataset(out).annotations) == 3  # the last shard to finish lists everyone
    (out / "annotations.json").unlink()
    assert merge_outputs(out, ExtractConfig(**FAST)) == 3
    assert _cli(["--merge", "--out", str(out), "--size", "112"]) == 0


def test_a_crash_in_the_decoding_worker_reaches_the_caller(
    tiny_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import cotal.features.decode as decode_module

    def broken(*args, **kwargs):
        raise RuntimeError("decoder bug")
        yield

    monkeypatch.setattr(decode_module, "iter_frames", broken)
    with pytest.raises(RuntimeError, match="decoder bug"):  # not a video's fault: the run stops
        extract_features([tiny_videos / "videos"], tmp_path / "feats", ExtractConfig(streams=("flow",), **FAST))
    assert not any(t.name == "cotal-decode" and t.is_alive() for t in threading.enumerate())


def test_frames_reach_the_network_scaled_as_in_numpy_without_a_copy() -> None:
    """uint8 frames are scaled inside the network call: bit-identical to the numpy scaling, channels_last_3d."""
    from cotal.features.backbones import Backbones

    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 8, 8, 3), dtype=np.uint8)
    seen: list[torch.Tensor] = []

    class Probe:
        def features(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x.mean(dim=(2, 3, 4))

    nets = Backbones(ExtractConfig(streams=("flow",), device="cpu"))
    nets.run(Probe(), frames, {"network": 0.0})  # type: ignore[arg-type]
    assert seen[0].is_contiguous(memory_format=torch.channels_last_3d)
    np.testing.assert_array_equal(seen[0].permute(0, 2, 3, 4, 1).numpy(), frames.astype(np.float32) / 127.5 - 1.0)
