"""End-to-end detection: placement in seconds, gate, fusion, clipping, options, degenerate and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotal.data import SnippetTiming
from cotal.detect import DetectConfig, detect, detect_video, fuse_streams, temporal_iou
from cotal.errors import ConfigError, DataError

NAMES = ["BaseballPitch", "Diving", "HighJump", "Shotput"]


def make_outputs(
    num_snippets: int,
    bumps: dict[int, list[tuple[int, int]]],
    *,
    probs: np.ndarray | None = None,
    seed: int = 0,
    num_classes: int = len(NAMES),
) -> dict[str, np.ndarray]:
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
    return {"cas": cas.astype(np.float32), "attention": att.astype(np.float32), "probs": np.asarray(probs, np.float32)}


def run(stream_outputs: dict[str, dict[str, np.ndarray]], timing: SnippetTiming, duration: float, **cfg):
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
    kw = {"smooth_window": 0, "dilation": 0, "thresholds": (0.5,), "threshold_mode": "absolute"}
    center = run(out, timing, 64.0, frame_alignment="center", **kw)[0]["segment"]
    start = run(out, timing, 64.0, frame_alignment="start", **kw)[0]["segment"]
    half = timing.seconds_per_snippet / 2
    np.testing.assert_allclose(np.subtract(center, start), [half, half], atol=1.5 / timing.fps)
    np.testing.assert_allclose(center, [40 * 0.64, 60 * 0.64], atol=1.5 / timing.fps)


def test_gate_keeps_and_drops_classes() -> None:
    timing = SnippetTiming()
    bumps = {c: [(20 * c + 5, 20 * c + 15)] for c in range(4)}
    out = {"rgb": make_outputs(100, bumps, probs=np.array([0.5, 0.3, 0.15, 0.05]))}
    assert {d["label"] for d in run(out, timing, 64.0)} == set(NAMES[:3])
    assert {d["label"] for d in run(out, timing, 64.0, class_threshold=0.4)} == {NAMES[0]}
    # Nothing above the gate: the top-1 class is still kept, unless keep_top1 is off.
    assert {d["label"] for d in run(out, timing, 64.0, class_threshold=0.9)} == {NAMES[0]}
    assert run(out, timing, 64.0, class_threshold=0.9, keep_top1=False) == []


def test_probability_weight_enters_the_score() -> None:
    timing = SnippetTiming()
    out = {"rgb": make_outputs(100, {0: [(30, 50)]})}
    p = float(fuse_streams(out, video_id="v", num_classes=4, config=DetectConfig()).probs[0])
    a = run(out, timing, 64.0, prob_weight=0.0)
    b = run(out, timing, 64.0, prob_weight=0.25)
    assert [d["segment"] for d in a] == [d["segment"] for d in b]
    np.testing.assert_allclose([d["score"] - 0.25 * p for d in b], [d["score"] for d in a])


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
    fused = fuse_streams({"rgb": rgb, "flow": flow}, video_id="v", num_classes=4, config=DetectConfig())
    np.testing.assert_allclose(fused.cas, (2 * rgb["cas"] + flow["cas"]) / 3, rtol=1e-6)
    logp = (2 * np.log(rgb["probs"].astype(float)) + np.log(flow["probs"].astype(float))) / 3
    np.testing.assert_allclose(fused.probs, np.exp(logp) / np.exp(logp).sum(), rtol=1e-6)

    cfg = DetectConfig(fusion="normalized", stream_weights={"rgb": 1.0, "flow": 3.0})
    fused = fuse_streams({"rgb": rgb, "flow": flow}, video_id="v", num_classes=4, config=cfg)

    def mm(x: np.ndarray) -> np.ndarray:
        return (x - x.min(0)) / (x.max(0) - x.min(0))

    np.testing.assert_allclose(fused.cas, (mm(rgb["cas"]) + 3 * mm(flow["cas"])) / 4, rtol=1e-6)
    np.testing.assert_allclose(fused.probs, (rgb["probs"] + 3 * flow["probs"]) / 4, rtol=1e-6)

    # A zero weight silences a stream: detections are those of the other stream alone.
    timing = SnippetTiming()
    only_rgb = run({"rgb": rgb, "flow": flow}, timing, 38.4, stream_weights={"rgb": 1.0, "flow": 0.0})
    assert only_rgb == run({"rgb": rgb}, timing, 38.4)


def test_min_length_and_cap() -> None:
    timing = SnippetTiming()
    bumps = {0: [(5, 8), (20, 40), (60, 62)], 1: [(70, 90)]}
    out = {"rgb": make_outputs(100, bumps)}
    full = run(out, timing, 64.0)
    assert min(d["segment"][1] - d["segment"][0] for d in full) < 5.0
    long_only = run(out, timing, 64.0, min_length=5.0)
    assert long_only and all(d["segment"][1] - d["segment"][0] >= 5.0 for d in long_only)
    capped = run(out, timing, 64.0, max_per_video=3)
    assert capped == full[:3]


def test_soft_nms_keeps_more_than_hard() -> None:
    timing = SnippetTiming()
    out = {"rgb": make_outputs(100, {0: [(20, 40), (45, 60)]})}
    hard = run(out, timing, 64.0)
    soft = run(out, timing, 64.0, nms="soft")
    assert len(soft) >= len(hard)
    assert soft[0] == hard[0]  # the best proposal is never decayed


def test_attention_weighting_suppresses_background() -> None:
    timing = SnippetTiming()
    out = make_outputs(100, {0: [(20, 30), (60, 70)]})
    att = np.full(100, 1e-3)
    att[60:70] = 1.0
    out["attention"] = (att / att.sum()).astype(np.float32)
    kw = {"smooth_window": 0, "thresholds": (0.5,), "threshold_mode": "absolute"}
    plain = run({"rgb": out}, timing, 64.0, **kw)
    weighted = run({"rgb": out}, timing, 64.0, activation="cas_x_attention", **kw)
    assert len(plain) == 2
    assert len(weighted) == 1 and 60 * 0.64 - 1 < weighted[0]["segment"][0] < 60 * 0.64 + 1


@pytest.mark.parametrize("num_snippets", [0, 1, 2, 5])
def test_empty_and_tiny_videos(num_snippets: int) -> None:
    out = {"rgb": make_outputs(num_snippets, {})}
    for resolution in ("frame", "snippet"):
        dets = run(out, SnippetTiming(), 10.0, resolution=resolution)
        assert all(np.isfinite(d["score"]) and 0 <= d["segment"][0] < d["segment"][1] <= 10.0 for d in dets)


def test_constant_activation_no_nan() -> None:
    out = make_outputs(50, {})
    out["cas"][:] = 1.5
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

    def bad(**changes):
        return {**good, **changes}

    cases = {
        "'cas' must have shape": {"rgb": bad(cas=np.zeros((30, 5), np.float32))},
        "'attention' must have shape": {"rgb": bad(attention=np.zeros(29, np.float32))},
        "'probs' must have shape": {"rgb": bad(probs=np.zeros(3, np.float32))},
        "different numbers of snippets": {"rgb": good, "flow": make_outputs(31, {})},
        "unknown stream 'depth'": {"rgb": good, "depth": good},
        "lack key": {"rgb": {"cas": good["cas"], "probs": good["probs"]}},
        "NaN": {"rgb": bad(cas=np.full((30, 4), np.nan, np.float32))},
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
        {"fusion": "max"},
        {"nms": "fuzzy"},
        {"nms_tiou": 1.5},
        {"soft_nms_sigma": 0.0},
        {"stream_weights": {"rgb": -1.0}},
        {"stream_weights": {}},
        {"thresholds": ()},
        {"dilation": 2.5},
        {"max_per_video": 0},
        {"min_length": -1.0},
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
    kind=st.sampled_from(["hard", "soft"]),
    activation=st.sampled_from(["cas", "cas_x_attention"]),
)
def test_detections_are_valid(num_snippets, num_classes, duration, seed, resolution, kind, activation) -> None:
    rng = np.random.default_rng(seed)
    names = [str(c) for c in range(num_classes)]
    outputs = {}
    for stream in ("rgb", "flow"):
        logits = rng.normal(size=num_classes)
        att = rng.random(num_snippets) + 1e-3
        outputs[stream] = {
            "cas": rng.normal(size=(num_snippets, num_classes)).astype(np.float32),
            "attention": (att / att.sum()).astype(np.float32),
            "probs": (np.exp(logits) / np.exp(logits).sum()).astype(np.float32),
        }
    cfg = DetectConfig(resolution=resolution, nms=kind, activation=activation)
    dets = detect_video(outputs, video_id="v", timing=SnippetTiming(), duration=duration, class_names=names, config=cfg)
    for d in dets:
        s, e = d["segment"]
        assert 0.0 <= s < e <= duration
        assert np.isfinite(d["score"]) and d["label"] in names
    if kind == "hard":
        for name in names:
            segs = np.array([d["segment"] for d in dets if d["label"] == name]).reshape(-1, 2)
            iou = temporal_iou(segs, segs)
            np.fill_diagonal(iou, 0.0)
            assert np.all(iou <= cfg.nms_tiou)
