"""Synthetic I3D-like snippet features for an annotation skeleton, with the nuisances of real data.

Model (per stream, in a ``latent_dim``-dimensional space, then embedded in ``dim`` dimensions by a fixed
random linear map, plus small i.i.d. sensor noise and a constant positive offset of norm ``common``)::

    x_t = scene_amp  * (1 - (1 - action_scene_weight) a_t) * scene[video]
        + bg_amp     * (1 - (1 - action_background_weight) a_t) * background_type[video, t]
        + act_amp    * sum_k strength[c_k] m_k(t) e_t * mode[c_k, mode_k]      (action instances k)
        + act_amp    * strength[c] context_strength g_t * mode[c, video mode]  (context events)
        + actionness * a_t e_t * u
        + jitter     * j[video]
        + AR(1) noise

``m_k`` is instance k's soft mask (linear ramps of ``ramp_seconds`` at both boundaries), ``a_t`` the action
presence (sum of masks, at most 1), ``e_t`` a smooth envelope in ``[1 - envelope_depth, 1]``, ``g_t`` the
mask of context events (class appearance without the action, next to action instances), ``u`` a
class-agnostic action direction. Scenes come from a shared pool; each class prefers a few scenes, so
mean-pooled descriptors cluster partly by scene. Classes come in families of similar directions and have
several intra-class modes; some classes are weak in one stream.

Every random draw of a video depends only on ``(seed, video id)`` (:class:`numpy.random.SeedSequence`), and
the dataset-level prototypes only on ``(seed, config, class list)``: the same seed writes byte-identical
files, whichever videos are generated and in which order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr

from cotal.data.annotations import VideoAnnotation
from cotal.data.dataset import STREAMS, DatasetMeta
from cotal.data.timing import SnippetTiming
from cotal.errors import ConfigError, DataError
from cotal.synth.config import SynthConfig
from cotal.synth.output import check_capacity, check_output_dir, staged_dir
from cotal.synth.skeleton import BUILTIN_SKELETONS, Skeleton, load_skeleton, video_key
from cotal.utils.io import write_json, write_npy

_WORLD_TAG = 0xC07A1
_VIDEO_TAG = 0x51DE0


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass(frozen=True)
class StreamWorld:
    """Dataset-level prototypes of one stream (L = latent_dim, D = dim).

    Attributes:
        embed: (L, D) random semi-orthogonal map (orthonormal rows when D >= L: distances are preserved).
        scenes: (S, L) unit scene prototypes.
        backgrounds: (B, L) unit background-type prototypes.
        modes: (C, M, L) unit intra-class mode directions.
        actionness: (L,) unit class-agnostic action direction.
        strength: (C,) class amplitude multiplier (``weak_stream_factor`` for classes weak in this stream).
        subjects: (P, L) unit subject-signature prototypes.
        gain: (D,) per-dimension gain of the final features (ones unless ``scale_spread``).
        offset: (D,) per-dimension constant offset (zeros unless ``offset``).
    """

    embed: np.ndarray
    scenes: np.ndarray
    backgrounds: np.ndarray
    modes: np.ndarray
    actionness: np.ndarray
    strength: np.ndarray
    subjects: np.ndarray
    gain: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class VideoPlan:
    """Stream-independent random events of one video (T snippets, K action instances, E context events).

    Attributes:
        scene: index of the video's scene prototype.
        classes: (K,) class index of each instance (aligned with the skeleton's segments).
        instance_modes: (K,) intra-class mode of each instance.
        masks: (T, K) soft mask of each instance.
        presence: (T,) action presence in [0, 1].
        envelope: (T,) action strength fluctuation in [1 - envelope_depth, 1].
        background: (T,) background type per snippet.
        context_masks: (T, E) soft masks of context events (zero inside actions).
        context_classes, context_modes: (E,) class and mode shown by each context event.
        subject: index of the video's subject signature (used when ``signature`` > 0).
    """

    scene: int
    classes: np.ndarray
    instance_modes: np.ndarray
    masks: np.ndarray
    presence: np.ndarray
    envelope: np.ndarray
    background: np.ndarray
    context_masks: np.ndarray
    context_classes: np.ndarray
    context_modes: np.ndarray
    subject: int


class SynthGenerator:
    """Draws the features of any video of a skeleton.

    Args:
        skeleton: what happens when (see :func:`cotal.synth.skeleton.load_skeleton`).
        config: generator knobs.
        seed: master seed (non-negative int).
    """

    def __init__(self, skeleton: Skeleton, config: SynthConfig, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"synth: seed must be a non-negative integer, got {seed!r}")
        self.skeleton = skeleton
        self.config = config
        self.seed = int(seed)
        self.timing = SnippetTiming(fps=config.fps, stride=config.stride)
        self.class_index = {name: i for i, name in enumerate(skeleton.classes)}
        c = config
        n_cls = len(skeleton.classes)
        shared = np.random.default_rng(np.random.SeedSequence([self.seed, _WORLD_TAG, len(STREAMS)]))
        # Which scenes each class prefers, and which classes are weak in one stream (both streams agree).
        self.preferred_scenes = np.stack(
            [shared.choice(c.num_scenes, size=c.scenes_per_class, replace=False) for _ in range(n_cls)]
        ).reshape(n_cls, c.scenes_per_class)
        n_weak = int(round(c.stream_specific_fraction * n_cls))
        weak = shared.permutation(n_cls)[:n_weak]
        self.worlds = {stream: self._stream_world(s, n_cls, weak[s::2]) for s, stream in enumerate(STREAMS)}

    def _stream_world(self, index: int, n_cls: int, weak: np.ndarray) -> StreamWorld:
        """Prototypes of stream number ``index``; ``weak``: classes whose amplitude is reduced in it."""
        c = self.config
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _WORLD_TAG, index]))
        L = c.latent_dim
        # Semi-orthogonal map: an isometry of the latent space when dim >= latent_dim (a projection otherwise).
        q, _ = np.linalg.qr(rng.standard_normal((max(L, c.dim), min(L, c.dim))))
        embed = q.T if c.dim >= L else q
        scenes = _unit(rng.standard_normal((c.num_scenes, L)))
        backgrounds = _unit(rng.standard_normal((c.num_background_types, L)))
        actionness = _unit(rng.standard_normal(L))
        fam_of = np.asarray(self.skeleton.families, dtype=np.int64)
        family = _unit(rng.standard_normal((int(fam_of.max()) + 1, L)))
        own = _unit(rng.standard_normal((n_cls, L)))
        centre = _unit(np.sqrt(c.family_similarity) * family[fam_of] + np.sqrt(1 - c.family_similarity) * own)
        mode_own = _unit(rng.standard_normal((n_cls, c.class_modes, L)))
        modes = _unit(np.sqrt(1 - c.mode_spread) * centre[:, None, :] + np.sqrt(c.mode_spread) * mode_own)
        strength = np.ones(n_cls)
        strength[weak] = c.weak_stream_factor
        # Drawn from their own generator so that adding these knobs left every default dataset byte-identical.
        extra = np.random.default_rng(np.random.SeedSequence([self.seed, _WORLD_TAG, index, 1]))
        subjects = _unit(extra.standard_normal((c.num_subjects, L)))
        gain = np.exp(c.scale_spread * extra.standard_normal(c.dim))
        offset = c.offset * gain * np.abs(extra.standard_normal(c.dim))
        return StreamWorld(
            embed=embed.astype(np.float32),
            scenes=scenes,
            backgrounds=backgrounds,
            modes=modes,
            actionness=actionness,
            strength=strength,
            subjects=subjects,
            gain=gain.astype(np.float32),
            offset=offset.astype(np.float32),
        )

    def num_snippets(self, video: VideoAnnotation) -> int:
        """T of a video: ``SnippetTiming.expected_snippets(duration)``, at least 1."""
        return max(1, self.timing.expected_snippets(video.duration))

    def video(self, video_id: str) -> dict[str, np.ndarray]:
        """Features of one video.

        Returns:
            ``{"rgb": (T, dim), "flow": (T, dim)}`` float32.
        """
        try:
            video = self.skeleton.annotations[video_id]
        except KeyError:
            raise DataError(f"synth: video {video_id!r} is not in the skeleton") from None
        latents = self.video_latents(video)
        ss = np.random.SeedSequence([self.seed, _VIDEO_TAG, video_key(video_id), 1])
        out = {}
        for stream, child in zip(STREAMS, ss.spawn(len(STREAMS)), strict=True):
            rng = np.random.default_rng(child)
            x = latents[stream].astype(np.float32) @ self.worlds[stream].embed
            if self.config.sensor_noise > 0:
                noise = rng.standard_normal(x.shape, dtype=np.float32)
                x += np.float32(self.config.sensor_noise / np.sqrt(self.config.dim)) * noise
            x += np.float32(self.config.stream(stream).common / np.sqrt(self.config.dim))
            if self.config.scale_spread > 0 or self.config.offset > 0:
                x = x * self.worlds[stream].gain + self.worlds[stream].offset
            if self.config.nonnegative:
                np.maximum(x, 0, out=x)
            out[stream] = x
        return out

    def plan(self, video: VideoAnnotation) -> VideoPlan:
        """The stream-independent random events of one video (scene, modes, masks, background, context)."""
        c = self.config
        T = self.num_snippets(video)
        sps = self.timing.seconds_per_snippet
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, _VIDEO_TAG, video_key(video.video_id), 0]))
        cls = np.array([self.class_index[lab] for lab in video.labels], dtype=np.int64)
        main = _main_class(video, cls)
        if main is not None and rng.random() < c.scene_affinity:
            scene = int(rng.choice(self.preferred_scenes[main]))
        else:
            scene = int(rng.integers(c.num_scenes))
        video_mode = rng.integers(c.class_modes, size=len(self.class_index))
        switch = rng.random(len(cls)) < c.instance_mode_switch
        centres = (np.arange(T) + 0.5) * sps
        masks = _soft_masks(centres, video.segments, c.ramp_seconds)
        presence = np.minimum(masks.sum(axis=1), 1.0)
        envelope = 1 - c.envelope_depth * ndtr(_ar1(rng, T, 1, np.exp(-sps / c.envelope_seconds))[:, 0])
        background = _background_sequence(rng, T, sps, c)
        ctx_segments, ctx_class = _context_events(rng, video, cls, c)
        return VideoPlan(
            scene=scene,
            classes=cls,
            instance_modes=np.where(switch, rng.integers(c.class_modes, size=len(cls)), video_mode[cls]),
            masks=masks,
            presence=presence,
            envelope=envelope,
            background=background,
            context_masks=_soft_masks(centres, ctx_segments, c.ramp_seconds) * (1 - presence)[:, None],
            context_classes=ctx_class,
            context_modes=video_mode[ctx_class],
            # Hash of the id, not the plan's generator, so default datasets keep their bytes.
            subject=video_key(video.video_id) % c.num_subjects,
        )

    def video_latents(self, video: VideoAnnotation) -> dict[str, np.ndarray]:
        """Latent features of one video before the embedding: ``{stream: (T, latent_dim) float64}``."""
        c = self.config
        p = self.plan(video)
        out = {}
        for s, stream in enumerate(STREAMS):
            sc = c.stream(stream)
            world = self.worlds[stream]
            rng = np.random.default_rng(
                np.random.SeedSequence([self.seed, _VIDEO_TAG, video_key(video.video_id), 0, s + 1])
            )
            x = np.outer(sc.scene * (1 - (1 - c.action_scene_weight) * p.presence), world.scenes[p.scene])
            bg_gain = sc.background * (1 - (1 - c.action_background_weight) * p.presence)
            x += bg_gain[:, None] * world.backgrounds[p.background]
            if len(p.classes):
                amp = sc.action * world.strength[p.classes]  # (K,)
                x += (p.masks * p.envelope[:, None] * amp) @ world.modes[p.classes, p.instance_modes]
            if len(p.context_classes):
                amp = sc.action * c.context_strength * world.strength[p.context_classes]
                x += (p.context_masks * amp) @ world.modes[p.context_classes, p.context_modes]
            x += np.outer(sc.actionness * p.presence * p.envelope, world.actionness)
            x += sc.jitter * _unit(rng.standard_normal(c.latent_dim))
            if c.signature > 0:
                x += c.signature * world.subjects[p.subject]
            x += sc.noise * _ar1(rng, len(p.presence), c.latent_dim, c.noise_ar)
            out[stream] = x
        return out


def _main_class(video: VideoAnnotation, cls: np.ndarray) -> int | None:
    """Class index with the most annotated time (ties: lowest index); None for an unlabelled video."""
    if len(cls) == 0:
        return None
    time = np.bincount(cls, weights=video.segments[:, 1] - video.segments[:, 0])
    return int(np.argmax(time))


def _soft_masks(centres: np.ndarray, segments: np.ndarray, ramp: float) -> np.ndarray:
    """Trapezoid masks: (T,) snippet centres (s), (K, 2) segments (s) -> (T, K) in [0, 1].

    Each boundary ramps linearly over ``ramp`` seconds centred on it, so a segment shorter than ``ramp``
    never reaches full strength (soft boundaries, weak short actions).
    """
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    if ramp == 0:
        return ((centres[:, None] >= segments[:, 0]) & (centres[:, None] < segments[:, 1])).astype(np.float64)
    rise = (centres[:, None] - segments[:, 0]) / ramp + 0.5
    fall = (segments[:, 1] - centres[:, None]) / ramp + 0.5
    return np.clip(np.minimum(rise, fall), 0.0, 1.0)


def _ar1(rng: np.random.Generator, T: int, dims: int, coef: float) -> np.ndarray:
    """Stationary unit-variance AR(1) noise along time: (T, dims) float64."""
    white = rng.standard_normal((T, dims))
    gain = np.sqrt(1 - coef**2)
    white[0] /= gain  # the first sample already has the stationary variance
    return lfilter([gain], [1.0, -coef], white, axis=0)


def _background_sequence(rng: np.random.Generator, T: int, sps: float, c: SynthConfig) -> np.ndarray:
    """(T,) background type per snippet: piecewise constant, switching among the video's few types."""
    types = rng.choice(c.num_background_types, size=c.background_types_per_video, replace=False)
    dwell = c.background_dwell_seconds / sps
    lengths = np.maximum(1, np.ceil(rng.exponential(dwell, size=int(T / dwell) * 3 + 3))).astype(np.int64)
    while lengths.sum() < T:  # rare: draw more runs than the expectation covers
        lengths = np.concatenate([lengths, np.maximum(1, np.ceil(rng.exponential(dwell, size=len(lengths))))])
    labels = types[rng.integers(len(types), size=len(lengths))]
    return np.repeat(labels, lengths.astype(np.int64))[:T]


def _context_events(
    rng: np.random.Generator, video: VideoAnnotation, cls: np.ndarray, c: SynthConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Context events beside action instances: ((E, 2) segments in seconds, (E,) class indices)."""
    if len(cls) == 0 or c.context_rate == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    n = int(rng.poisson(c.context_rate * len(cls)))
    anchor = rng.integers(len(cls), size=n)
    length = rng.exponential(c.context_seconds, size=n)
    gap = rng.uniform(0.0, 2.0, size=n)
    before = rng.random(n) < 0.5
    s, e = video.segments[anchor, 0], video.segments[anchor, 1]
    start = np.where(before, s - gap - length, e + gap)
    segs = np.stack([start, start + length], axis=1)
    return segs, cls[anchor]


def generate_features(
    out_dir: str | os.PathLike,
    *,
    skeleton: str | os.PathLike | None = "thumos14",
    config: SynthConfig | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic dataset in the native layout (dataset.yaml, annotations.json, rgb/, flow/, synth.json).

    Args:
        out_dir: dataset folder; must be absent or empty unless ``overwrite``. The dataset is written to a
            temporary sibling folder and renamed into place, so nothing half-written is left under ``out_dir``.
        skeleton: "thumos14", "activitynet12", a path to an ActivityNet-style JSON, or None (parametric).
        config: generator knobs (defaults: :class:`SynthConfig`).
        seed: master seed; the same seed and config give byte-identical files.
        overwrite: replace an existing non-empty ``out_dir``.
    Returns:
        ``out_dir`` as a Path. Features are float32 (T, config.dim) per stream and video.
    """
    config = config or SynthConfig()
    out = Path(out_dir)
    source = [] if skeleton is None or str(skeleton) in BUILTIN_SKELETONS else [skeleton]
    check_output_dir(out, overwrite, source)  # fail before the (slow) generation
    if skeleton is None:
        check_capacity(out, config)  # before the skeleton, which alone may not fit
    skel = load_skeleton(skeleton, config, seed)
    check_capacity(out, config, [v.duration for v in skel.annotations.values()])
    gen = SynthGenerator(skel, config, seed)
    with staged_dir(out, overwrite) as tmp:
        _write_dataset(tmp, gen, seed)
    return out


def _write_dataset(root: Path, gen: SynthGenerator, seed: int) -> None:
    """Write every file of the dataset under ``root``; ``synth.json`` records the seed, config and clipping."""
    skel = gen.skeleton
    meta = DatasetMeta(
        fps=gen.config.fps,
        stride=gen.config.stride,
        train_subset=skel.train_subset,
        test_subset=skel.test_subset,
        name=f"synth-{skel.name}",
    )
    meta.save(root / "dataset.yaml")
    write_json(root / "annotations.json", skel.annotations.to_json())
    total = 0
    for vid in skel.annotations.ids():
        feats = gen.video(vid)
        total += feats["rgb"].shape[0]
        for stream, x in feats.items():
            write_npy(root / stream / f"{vid}.npy", x)
    write_json(
        root / "synth.json",
        {
            "generator": "cotal.synth",
            "seed": seed,
            "skeleton": skel.name,
            "classes": list(skel.classes),
            "num_videos": len(skel.annotations),
            "num_snippets": total,
            "clipped_segments": skel.clipped_segments,
            "dropped_segments": skel.dropped_segments,
            "dropped_videos": skel.dropped_videos,
            "config": gen.config.to_dict(),
        },
    )
