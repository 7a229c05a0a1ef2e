"""End-to-end detection: placement in seconds, gate, fusion, clipping, options, degenerate and bad inputs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotal.data import SnippetTiming
from cotal.detect import DetectConfig, detect, detect_video, fuse_streams, temporal_iou
from cotal.detect.config import NMS_TIOU
from cotal.errors import ConfigError, DataError
from cotal.model import VideoOutput

NAMES = ["BaseballPitch", "Diving", "HighJump", "Shotput"]


def make_outputs(
    num_snippets: int,
    bumps: dict[int, list[tuple[int, int]]],
    *,
    probs: np.ndarray | None = None,
    seed: int = 0,
    num_classes: int = len(NAMES),
) -> VideoOutput:
    """One stream's outputs with a noise floor and +3 logits over the given snippet ranges of each class."""
    rng = np.random.default_rng(seed)
    cas = rng.normal(0, 0.1, size=(num_snippets, num_classes))
    for c, ranges in bumps.items():
        for s, e in ranges:
            cas[s:e, c] += 3.0
    if probs is None:
        logits = np.full(num_classes, -2.0)
        logits[list(bumps)] = 2.0
        probs = np.exp(logits) / np.exp(logits).sum()
    att = np.full(num_snippets, 1.0 / max(num_snippets, 1))
    return VideoOutput(cas, att, probs)


def run(stream_outputs: dict[str, VideoOutput], timing: SnippetTiming, duration: float, **cfg):
    return detect_video(
        stream_outputs,
        video_id="v",
        timing=timing,
        duration=duration,
        class_names=NAMES,
        config=DetectConfig(**cfg),
    )


@pytest.mark.parametrize("resolution", ["frame", "snippet"])
@pytest.mark.parametrize(("fps", "stride"), [(25.0, 16.0), (30.0, 8.0)])
def test_planted_bump_found_in_seconds(resolution: str, fps: float, stride: float) -> None:
    timing = SnippetTiming(fps=fps, stride=stride)
    streams = {"rgb": make_outputs(200, {2: [(80, 120)]}), "flow": make_outputs(200, {2: [(80, 120)]}, seed=1)}
    dets = run(streams, timing, float(timing.to_seconds(200)), resolution=resolution)
    top = dets[0]
    assert top["label"] == "HighJump"
    truth = np.array([[timing.to_seconds(80), timing.to_seconds(120)]])
    # The default smoothing (a moving average over 200 frames here) widens the bump a little on both sides.
    assert temporal_iou(np.array([top["segment"]]), truth)[0, 0] > 0.75
    assert abs(np.mean(top["segment"]) - truth.mean()) < timing.seconds_per_snippet / 2
    assert [d["score"] for d in dets] == sorted((d["score"] for d in dets), reverse=True)


def test_start_alignment_shifts_half_a_snippet_earlier() -> None:
    timing = SnippetTiming()
    out = {"rgb": make_outputs(100, {1: [(40, 60)]})}
    kw = {"smooth_window": 0, "dilation": 0}
    center = run(out, timing, 64.0, frame_alignment="center", **kw)[0]["segment"]
    start = run(out, timing, 64.0, frame_alignment="start", **kw)[0]["segment"]
    half = timing.seconds_per_snippet / 2
    np.testing.assert_allclose(np.subtract(center, start), [half, half], atol=1.5 / timing.fps)
    np.testing.assert_allclose(center, [40 * 0.64, 60 * 0.64], atol=half)


def test_gate_keeps_and_drops_classes() -> None:
    timing = SnippetTiming()
    bumps = {c: [(20 * c + 5, 20 * c + 15)] for c in range(4)}
    out = {"rgb": make_outputs(100, bumps, probs=np.array([0.5, 0.3, 0.15, 0.05]))}
    assert {d["label"] for d in run(out, timing, 64.0)} == set(NAMES[:3])  # video probability > 0.1
    # Nothing above the gate (12 classes, flat probabilities): the top-1 class is still kept, unless keep_top1 is off.
    names = [f"c{i}" for i in range(12)]
    probs = np.full(12, 0.08)
    probs[5] = 0.095
    flat = {"rgb": make_outputs(100, {5: [(40, 60)]}, probs=probs / probs.sum(), num_classes=12)}
    kw = dict(video_id="v", timing=timing, duration=64.0, class_names=names)
    assert {d["label"] for d in detect_video(flat, config=DetectConfig(), **kw)} == {"c5"}
    assert detect_video(flat, config=DetectConfig(keep_top1=False), **kw) == []


def test_segments_clipped_to_duration() -> None:
    timing = SnippetTiming()
    out = {"rgb": make_outputs(100, {3: [(85, 100)]})}
    duration = 60.0  # features run to 64 s
    dets = run(out, timing, duration)
    assert dets and all(0.0 <= d["segment"][0] < d["segment"][1] <= duration for d in dets)
    assert max(d["segment"][1] for d in dets) == duration


def test_fusion_weights_honoured() -> None:
    rgb = make_outputs(60, {0: [(10, 20)]}, seed=0)
    flow = make_outputs(60, {0: [(40, 50)]}, seed=1, probs=np.array([0.1, 0.6, 0.2, 0.1]))
    fused = fuse_streams({"rgb": rgb, "flow": flow}, video_id="v", num_classes=4)
    np.testing.assert_allclose(fused.cas, (2 * rgb.cas + flow.cas) / 3, rtol=1e-6)
    logp = (2 * np.log(rgb.probs.astype(float)) + np.log(flow.probs.astype(float))) / 3
    np.testing.assert_allclose(fused.probs, np.exp(logp) / np.exp(logp).sum(), rtol=1e-6)
    np.testing.assert_allclose(fused.attention, (2 * rgb.attention + flow.attention) / 3, rtol=1e-6)


def test_cap_per_video() -> None:
    timing = SnippetTiming()
    bumps = {0: [(5, 8), (20, 40), (60, 62)], 1: [(70, 90)]}
    out = {"rgb": make_outputs(100, bumps)}
    full = run(out, timing, 64.0)
    assert len(full) > 3
    capped = run(out, timing, 64.0, max_per_video=3)
    assert capped == full[:3]


def test_attention_weighting_suppresses_background() -> None:
    timing = SnippetTiming()
    out = make_outputs(100, {0: [(20, 30), (60, 70)]})
    att = np.full(100, 1e-3)
    att[60:70] = 1.0
    out = VideoOutput(out.cas, att / att.sum(), out.probs)
    plain = run({"rgb": out}, timing, 64.0, smooth_window=0)
    weighted = run({"rgb": out}, timing, 64.0, smooth_window=0, activation="cas_x_attention")

    def near(dets: list[dict], start: int) -> bool:  # a detection starting at that snippet
        return any(abs(d["segment"][0] - start * 0.64) < 1.5 for d in dets)

    assert near(plain, 20) and near(plain, 60)
    assert near(weighted, 60) and not near(weighted, 20)
    assert 60 * 0.64 - 1.5 < weighted[0]["segment"][0] < 60 * 0.64 + 1.5


@pytest.mark.parametrize("num_snippets", [0, 1, 2, 5])
def test_empty_and_tiny_videos(num_snippets: int) -> None:
    out = {"rgb": make_outputs(num_snippets, {})}
    for resolution in ("frame", "snippet"):
        dets = run(out, SnippetTiming(), 10.0, resolution=resolution)
        assert all(np.isfinite(d["score"]) and 0 <= d["segment"][0] < d["segment"][1] <= 10.0 for d in dets)


def test_constant_activation_no_nan() -> None:
    out = make_outputs(50, {})
    out = VideoOutput(np.full_like(out.cas, 1.5), out.attention, out.probs)
    for activation in ("cas", "cas_x_attention"):
        assert run({"rgb": out, "flow": out}, SnippetTiming(), 32.0, activation=activation) == []


def test_detect_over_videos() -> None:
    timing = SnippetTiming()
    outputs = {
        s: {"b": make_outputs(50, {1: [(10, 20)]}, seed=i), "a": make_outputs(80, {2: [(30, 50)]}, seed=i + 5)}
        for i, s in enumerate(("rgb", "flow"))
    }
    dets = detect(outputs, timing=timing, durations={"a": 51.2, "b": 32.0, "c": 1.0}, class_names=NAMES)
    assert list(dets) == ["a", "b"]
    assert dets["a"][0]["label"] == "HighJump" and dets["b"][0]["label"] == "Diving"
    clusters = [str(i) for i in range(4)]
    dets = detect(outputs, timing=timing, durations={"a": 51.2, "b": 32.0}, class_names=clusters)
    assert dets["a"][0]["label"] == "2"


def test_bad_inputs_raise_data_errors() -> None:
    timing = SnippetTiming()
    good = make_outputs(30, {0: [(5, 10)]})
    cas, att, probs = good.cas, good.attention, good.probs
    shapes = {  # a VideoOutput checks its own arrays
        "cas (T, C), attention (T,) and probs (C,)": lambda: VideoOutput(cas, att[:-1], probs),
        "got cas": lambda: VideoOutput(cas, att, probs[:3]),
        "'cas' contains NaN": lambda: VideoOutput(np.full_like(cas, np.nan), att, probs),
    }
    for message, build in shapes.items():
        with pytest.raises(DataError, match=re.escape(message)):
            build()
    cases = {
        "outputs have 5 classes": {"rgb": VideoOutput(np.zeros((30, 5)), att, np.full(5, 0.2))},
        "different numbers of snippets": {"rgb": good, "flow": make_outputs(31, {})},
        "unknown stream 'depth'": {"rgb": good, "depth": good},
        "expected a VideoOutput": {"rgb": {"cas": cas, "attention": att, "probs": probs}},
        "no stream": {},
    }
    for message, stream_outputs in cases.items():
        with pytest.raises(DataError, match=message):
            run(stream_outputs, timing, 19.2)
    with pytest.raises(DataError, match="duration"):
        run({"rgb": good}, timing, 0.0)
    with pytest.raises(DataError, match="missing from the outputs of stream"):
        detect({"rgb": {"a": good}, "flow": {}}, timing=timing, durations={"a": 19.2}, class_names=NAMES)
    with pytest.raises(DataError, match="no duration"):
        detect({"rgb": {"a": good}}, timing=timing, durations={}, class_names=NAMES)


@pytest.mark.parametrize(
    "changes",
    [
        {"activation": "max"},
        {"resolution": "pixel"},
        {"frame_alignment": "end"},
        {"dilation": 2.5},
        {"dilation": -1},
        {"smooth_window": -3},
        {"max_per_video": 0},
    ],
)
def test_bad_config_raises(changes: dict) -> None:
    with pytest.raises(ConfigError):
        DetectConfig(**changes)


@settings(max_examples=40, deadline=None)
@given(
    num_snippets=st.integers(1, 60),
    num_classes=st.integers(1, 4),
    duration=st.floats(0.1, 60.0),
    seed=st.integers(0, 2**16),
    resolution=st.sampled_from(["frame", "snippet"]),
    activation=st.sampled_from(["cas", "cas_x_attention"]),
)
def test_detections_are_valid(num_snippets, num_classes, duration, seed, resolution, activation) -> None:
    rng = np.random.default_rng(seed)
    names = [str(c) for c in range(num_classes)]
    outputs = {}
    for stream in ("rgb", "flow"):
        logits = rng.normal(size=num_classes)
        att = rng.random(num_snippets) + 1e-3
        probs = np.exp(logits) / np.exp(logits).sum()
        outputs[stream] = VideoOutput(rng.normal(size=(num_snippets, num_classes)), att / att.sum(), probs)
    cfg = DetectConfig(resolution=resolution, activation=activation)
    dets = detect_video(outputs, video_id="v", timing=SnippetTiming(), duration=duration, class_names=names, config=cfg)
    for d in dets:
        s, e = d["segment"]
        assert 0.0 <= s < e <= duration
        assert np.isfinite(d["score"]) and d["label"] in names
    for name in names:
        segs = np.array([d["segment"] for d in dets if d["label"] == name]).reshape(-1, 2)
        iou = temporal_iou(segs, segs)
        np.fill_diagonal(iou, 0.0)
        assert np.all(iou <= NMS_TIOU)
