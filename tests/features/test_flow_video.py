"""Optical flow, the hand-crafted motion descriptor, decoding/resampling and the synthetic videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from cotal.data.annotations import load_annotations
from cotal.errors import ConfigError, DataError
from tests.extras import skip_without_extra

skip_without_extra("extract")

import av  # noqa: E402
import cv2  # noqa: E402

from cotal.features.flow import FlowDescriptor, FlowEstimator, flow_to_network_input  # noqa: E402
from cotal.features.video import iter_frames, probe_video  # noqa: E402
from cotal.synth.videos import motion_patterns, render_video_dataset  # noqa: E402


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, size=(h // 4, w // 4)).astype(np.float32)
    return cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0).astype(np.uint8)


def _translating_flow(dx: float, dy: float, t: int = 8, size: int = 64) -> np.ndarray:
    """(t, size, size, 2) constant flow inside a moving central square, zero outside."""
    flows = np.zeros((t, size, size, 2), np.float32)
    flows[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = (dx, dy)
    return flows


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_estimator_recovers_a_known_shift(method: str) -> None:
    tex = _texture(96, 128, seed=0)
    shifted = np.roll(tex, (2, 3), axis=(0, 1))  # content moves 3 px right, 2 px down
    flow = FlowEstimator(method)(tex, shifted)
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [3.0, 2.0], atol=0.5)


def test_tvl1_needs_opencv_contrib() -> None:
    if hasattr(cv2, "optflow"):
        assert FlowEstimator("tvl1").method == "tvl1"
    else:
        with pytest.raises(ConfigError, match="opencv-contrib"):
            FlowEstimator("tvl1")
    with pytest.raises(ConfigError, match="unknown flow method"):
        FlowEstimator("lucas-kanade")


def test_flow_network_input_is_clipped_and_scaled() -> None:
    out = flow_to_network_input(np.array([-50.0, -20.0, 0.0, 10.0, 35.0]))
    np.testing.assert_allclose(out, [-1.0, -1.0, 0.0, 0.5, 1.0])


def test_descriptor_shape_and_normalisation() -> None:
    desc = FlowDescriptor()
    for flows in (_translating_flow(2.0, 0.0), np.zeros((16, 48, 48, 2), np.float32)):
        v = desc(flows)
        assert v.shape == (desc.dim,) == (576,)
        assert v.dtype == np.float32 and np.all(v >= 0)
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match=r"\(T, H, W, 2\)"):
        desc(np.zeros((16, 48, 48)))


def test_descriptor_responds_to_motion_direction() -> None:
    desc = FlowDescriptor()
    right, right_faster = desc(_translating_flow(3.0, 0.0)), desc(_translating_flow(4.0, 0.0))
    left, down = desc(_translating_flow(-3.0, 0.0)), desc(_translating_flow(0.0, 3.0))
    still = desc(np.zeros((8, 64, 64, 2), np.float32))
    assert right @ right_faster > 0.9
    for other in (left, down, still):
        assert right @ other < right @ right_faster - 0.2
    # same motion at another resolution gives the same descriptor (magnitudes are in 224-px units)
    small = desc(_translating_flow(1.5, 0.0, size=32))
    assert right @ small > 0.95


def _write_counter_video(path: Path, n: int, fps: int) -> None:
    """Frames of uniform grey level 10*i, nearly lossless, so the decoded frame index is readable."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv444p"
        stream.options = {"qp": "0"}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 10 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("out_fps", [25.0, 4.0])
def test_resampling_takes_the_nearest_frame_by_timestamp(tmp_path: Path, out_fps: float) -> None:
    path = tmp_path / "counter.mp4"
    _write_counter_video(path, n=20, fps=10)  # 2.0 s
    got = list(iter_frames(path, fps=out_fps, resize_short=0, crop=0))
    times = np.array([t for t, _ in got])
    index = np.array([round(float(f.mean()) / 10) for _, f in got])
    expected_count = int(np.ceil(2.0 * out_fps))
    assert len(got) == expected_count
    np.testing.assert_allclose(times, np.arange(expected_count) / out_fps)
    np.testing.assert_array_equal(index, np.minimum(np.floor(times * 10 + 0.5), 19).astype(int))


def test_resize_and_centre_crop(tmp_path: Path) -> None:
    path = tmp_path / "counter.mp4"
    _write_counter_video(path, n=3, fps=10)
    (_, frame), *_ = iter_frames(path, fps=10, resize_short=40, crop=36)
    assert frame.shape == (36, 36, 3) and frame.dtype == np.uint8
    with pytest.raises(DataError, match="crop 48 is larger"):
        next(iter_frames(path, fps=10, resize_short=40, crop=48))
    info = probe_video(path)
    assert (info.width, info.height) == (32, 32) and info.native_fps == pytest.approx(10)


@pytest.mark.parametrize(("content", "reason"), [(b"", "file is empty"), (b"\x13\x37" * 3000, "cannot open video")])
def test_unreadable_files_raise_one_line(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DataError, match=reason) as err:
        list(iter_frames(path, fps=25, resize_short=0, crop=0))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_rendered_videos_match_their_ground_truth(tiny_videos: Path) -> None:
    ann = load_annotations(tiny_videos / "annotations.json")
    assert len(ann) == 3 and set(ann.subsets) <= {"validation", "test"}
    for vid, entry in ann.items():
        frames = list(iter_frames(tiny_videos / "videos" / f"{vid}.mp4", fps=25, resize_short=0, crop=0))
        assert len(frames) == round(entry.duration * 25)
        assert frames[0][1].shape == (64, 96, 3)
        assert len(entry.segments) >= 1 and np.all(entry.segments[:, 1] <= entry.duration)
        assert np.all(entry.segments[:, 0] > 0)  # background before the first action
        # the object appears only inside actions: frames inside differ more from the background
        still = frames[0][1].astype(np.float32)
        mid = int(entry.segments[0].mean() * 25)
        assert np.abs(frames[mid][1].astype(np.float32) - still).mean() > 1.0
        assert set(entry.labels) <= {p.name for p in motion_patterns(2)}


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    kwargs = dict(num_videos=2, num_classes=2, seed=11, width=64, height=48, min_duration=1.0, max_duration=1.2)
    a = render_video_dataset(tmp_path / "a", **kwargs)
    b = render_video_dataset(tmp_path / "b", **kwargs)
    assert (a / "annotations.json").read_text() == (b / "annotations.json").read_text()
    for name in ("synth_0000.mp4", "synth_0001.mp4"):  # byte-identical (single-threaded x264)
        assert (a / "videos" / name).read_bytes() == (b / "videos" / name).read_bytes()
    c = render_video_dataset(tmp_path / "c", **{**kwargs, "seed": 12})
    assert (c / "annotations.json").read_text() != (a / "annotations.json").read_text()


def test_many_classes_get_distinct_patterns() -> None:
    names = [p.name for p in motion_patterns(30)]
    assert len(set(names)) == 30
    with pytest.raises(ConfigError, match="even"):
        render_video_dataset("/nonexistent", num_videos=1, num_classes=1, seed=0, width=63)
