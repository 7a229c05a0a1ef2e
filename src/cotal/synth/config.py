"""Knobs of the synthetic feature generator (every nuisance has a documented default; see docs/synth.md)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from cotal.errors import ConfigError
from cotal.utils.text import short_repr

MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class StreamConfig:
    """Amplitudes of the latent components of one stream (RGB or flow).

    Every component is a unit-norm direction in the latent space scaled by its amplitude, so amplitudes
    compare directly. ``noise`` is the per-latent-dimension standard deviation of the AR(1) snippet noise
    (its norm is ``noise * sqrt(latent_dim)``).

    Attributes:
        scene: weight of the per-video scene prototype (shared by videos of many classes).
        background: weight of the background type active at a snippet (several types per dataset).
        action: weight of the class prototype (one of its intra-class modes) inside actions.
        actionness: weight of a class-agnostic "something is happening" direction inside actions.
        jitter: weight of a per-video constant offset (camera, lighting).
        noise: per-dimension std of the temporally correlated snippet noise.
        common: norm of a constant all-positive vector added to every snippet in feature space, like the large
            shared mean of real I3D features. Off by default: it changes the L2-normalised descriptors (the
            pooled norm then survives normalisation) and the defaults are calibrated without it.
    """

    scene: float
    background: float
    action: float
    actionness: float
    jitter: float
    noise: float
    common: float

    def validate(self, name: str) -> None:
        for key, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and 0 <= value <= MAX_INT):
                raise ConfigError(
                    f"synth config: {name}.{key} must be a number in [0, {MAX_INT}], got {short_repr(value)}"
                )


def _rgb_default() -> StreamConfig:
    # Appearance: the scene dominates the background, little class-agnostic motion.
    return StreamConfig(scene=0.8, background=0.6, action=1.8, actionness=0.3, jitter=0.2, noise=0.4, common=0.0)


def _flow_default() -> StreamConfig:
    # Motion: weak scene (camera motion patterns), clear class motion and a strong "moving person" signal.
    return StreamConfig(scene=0.2, background=0.4, action=2.4, actionness=0.7, jitter=0.2, noise=0.4, common=0.0)


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes a synthetic dataset except the seed and the skeleton source.

    Feature layout
        dim: feature dimension D per stream (I3D: 1024).
        latent_dim: dimension of the latent space the components live in; a fixed random linear map per
            stream embeds it into ``dim`` (real snippet features are far from isotropic).
        sensor_noise: norm of i.i.d. Gaussian noise added in the ``dim``-space (per-dim std sensor_noise/sqrt(dim)).
        nonnegative: apply ReLU to the final features, like post-ReLU I3D features (off by default; the
            calibration in docs/synth.md is for the default).
        fps, stride: snippet timing written to dataset.yaml (T = floor(duration * fps / stride), at least 1).

    Parametric skeleton (used when no skeleton is given)
        num_videos, num_classes: collection size.
        min_duration, max_duration: video length in seconds (log-uniform).
        min_segments, max_segments: action instances per video (uniform integer).
        min_segment_length, max_segment_length: instance length in seconds (log-uniform, clipped to fit).
        test_fraction: fraction of videos in the "test" subset (the rest are "validation", the training subset).
        multi_label_fraction: fraction of videos that contain a second class (drawn from the same family, like
            THUMOS14's CricketBowling + CricketShot).

    Subsampling
        max_videos: keep at most this many videos, stratified by subset, chosen by a per-video hash (so a
            smaller set is contained in a larger one and every kept video keeps its features).
        keep_unlabelled: keep skeleton videos whose subset has no labels at all (ActivityNet "testing") as
            unlabelled videos; dropped by default.

    Scene (context) nuisance
        num_scenes: size of the scene prototype pool.
        scenes_per_class: preferred scenes of each class.
        scene_affinity: probability that a video's scene is one of its class's preferred scenes (else uniform).
        action_scene_weight: fraction of the scene that stays visible during an action (the actor occludes it).

    Background nuisance
        num_background_types: generic background types shared by all videos (crowd, replay, close-up, ...).
        background_types_per_video: how many of those types one video switches between.
        background_dwell_seconds: mean time a background type lasts before switching.
        action_background_weight: fraction of the background type that stays during an action (shot type and
            camera motion persist).

    Class structure
        family_size: classes are grouped into families of this size (confusable classes).
        family_similarity: squared cosine share of the family direction in a class direction (0: unrelated).
        class_modes: intra-class modes per class (a video draws one per class it contains).
        mode_spread: share of a mode direction that is mode-specific (0: all modes identical).
        instance_mode_switch: probability that one action instance uses another mode than its video.
        stream_specific_fraction: fraction of classes that are weak in one stream (half RGB-weak, half flow-weak).
        weak_stream_factor: class amplitude multiplier in a class's weak stream.

    Temporal structure
        noise_ar: AR(1) coefficient of the snippet noise (temporal smoothness).
        ramp_seconds: width of the linear ramp at each action boundary (soft boundaries; short actions never
            reach full strength).
        envelope_depth: actions fluctuate smoothly between (1 - depth) and 1 of full strength.
        envelope_seconds: time scale of that fluctuation.
        context_rate: expected number of context events (pre-/post-action snippets that weakly show the
            video's class, e.g. a pitcher waiting) per action instance.
        context_strength: class amplitude of a context event relative to the action.
        context_seconds: mean length of a context event.

    Per-video signatures and uneven scales (the hard case of real non-I3D features; off by default)
        signature: norm of a per-video constant drawn from a pool of ``num_subjects`` subject prototypes (who
            recorded the video, which sensor), independent of the class and present in every snippet, like
            the same person's background motion in wrist recordings.
        num_subjects: size of that pool.
        scale_spread: std of the natural log of a per-dimension gain applied to the final features (0: every
            dimension on the same scale; 2: gains spread over about two orders of magnitude).
        offset: size of a per-dimension constant offset (times the dimension's gain), like the non-zero means
            of raw statistics.

    Per-stream amplitudes
        rgb, flow: :class:`StreamConfig` of each stream.
    """

    dim: int = 1024
    latent_dim: int = 64
    sensor_noise: float = 0.3
    nonnegative: bool = False
    fps: float = 25.0
    stride: float = 16.0

    num_videos: int = 400
    num_classes: int = 20
    min_duration: float = 20.0
    max_duration: float = 400.0
    min_segments: int = 1
    max_segments: int = 15
    min_segment_length: float = 1.0
    max_segment_length: float = 20.0
    test_fraction: float = 0.5
    multi_label_fraction: float = 0.1

    max_videos: int | None = None
    keep_unlabelled: bool = False

    num_scenes: int = 10
    scenes_per_class: int = 2
    scene_affinity: float = 0.85
    action_scene_weight: float = 0.3

    num_background_types: int = 8
    background_types_per_video: int = 3
    background_dwell_seconds: float = 8.0
    action_background_weight: float = 0.0

    family_size: int = 3
    family_similarity: float = 0.4
    class_modes: int = 3
    mode_spread: float = 0.2
    instance_mode_switch: float = 0.2
    stream_specific_fraction: float = 0.3
    weak_stream_factor: float = 0.35

    noise_ar: float = 0.5
    ramp_seconds: float = 1.5
    envelope_depth: float = 0.4
    envelope_seconds: float = 3.0
    context_rate: float = 0.5
    context_strength: float = 0.4
    context_seconds: float = 2.0

    signature: float = 0.0
    num_subjects: int = 8
    scale_spread: float = 0.0
    offset: float = 0.0

    rgb: StreamConfig = field(default_factory=_rgb_default)
    flow: StreamConfig = field(default_factory=_flow_default)

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():  # sizes a machine can count and times arithmetic can hold
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise ConfigError(f"synth config: {key} must be at most {MAX_INT}, got {short_repr(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"synth config: {key} must be a finite number, got {value!r}")
        positive_ints = ("dim", "latent_dim", "num_videos", "num_classes", "num_scenes", "scenes_per_class")
        positive_ints += ("num_subjects",)
        positive_ints += ("num_background_types", "background_types_per_video", "family_size", "class_modes")
        for key in positive_ints:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"synth config: {key} must be a positive integer, got {value!r}")
        for key in ("min_segments", "max_segments"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"synth config: {key} must be a non-negative integer, got {value!r}")
        if self.max_videos is not None and (not isinstance(self.max_videos, int) or self.max_videos < 1):
            raise ConfigError(f"synth config: max_videos must be a positive integer or None, got {self.max_videos!r}")
        positive = ("fps", "stride", "min_duration", "max_duration", "min_segment_length", "max_segment_length")
        positive += ("background_dwell_seconds", "envelope_seconds", "context_seconds")
        for key in positive:
            value = getattr(self, key)
            if not value > 0:
                raise ConfigError(f"synth config: {key} must be > 0, got {value!r}")
        unit = ("test_fraction", "multi_label_fraction", "scene_affinity", "action_scene_weight", "family_similarity")
        unit += ("action_background_weight",)
        unit += ("mode_spread", "instance_mode_switch", "stream_specific_fraction", "weak_stream_factor")
        unit += ("envelope_depth", "context_strength")
        for key in unit:
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise ConfigError(f"synth config: {key} must lie in [0, 1], got {value!r}")
        if not 0 <= self.noise_ar < 1:
            raise ConfigError(f"synth config: noise_ar must lie in [0, 1), got {self.noise_ar!r}")
        for key in ("sensor_noise", "ramp_seconds", "context_rate", "signature", "scale_spread", "offset"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"synth config: {key} must be >= 0, got {getattr(self, key)!r}")
        for lo, hi in (("min_duration", "max_duration"), ("min_segments", "max_segments")):
            if getattr(self, lo) > getattr(self, hi):
                raise ConfigError(f"synth config: {lo} ({getattr(self, lo)}) exceeds {hi} ({getattr(self, hi)})")
        if self.min_segment_length > self.max_segment_length:
            raise ConfigError("synth config: min_segment_length exceeds max_segment_length")
        if self.scenes_per_class > self.num_scenes:
            raise ConfigError(f"synth config: scenes_per_class ({self.scenes_per_class}) exceeds num_scenes")
        if self.background_types_per_video > self.num_background_types:
            raise ConfigError("synth config: background_types_per_video exceeds num_background_types")
        self.rgb.validate("rgb")
        self.flow.validate("flow")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for the provenance file ``synth.json``)."""
        return asdict(self)

    def stream(self, name: str) -> StreamConfig:
        """The :class:`StreamConfig` of ``"rgb"`` or ``"flow"``."""
        if name not in ("rgb", "flow"):
            raise ConfigError(f"synth config: unknown stream {name!r}")
        return self.rgb if name == "rgb" else self.flow
