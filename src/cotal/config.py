"""Configuration: one dataclass per stage, explicit defaults, YAML presets that inherit.

A config file is YAML with one section per stage (``pipeline``, ``cluster``, ``model``, ``loss``,
``train``, ``detect``). ``_base_: <preset name or relative path>`` inherits another file; the child's keys
override the base's, section by section. Command-line overrides use dotted keys (``train.epochs=5``).
Unknown keys and wrongly typed values raise :class:`ConfigError` naming the key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from cotal.detect.config import DetectConfig
from cotal.errors import ConfigError
from cotal.model.config import LossConfig, ModelConfig
from cotal.train.config import TrainConfig
from cotal.utils.io import read_yaml

PRESETS = ("demo", "thumos14", "activitynet12")


@dataclass
class DataConfig:
    """How features enter the method.

    Attributes:
        normalize: "zscore" standardises every dimension of each stream with the mean and standard deviation of
            the training videos' snippets (stored in the run and inside every model); "none" feeds raw features
            (the paper). Default "zscore": chosen on the development suite (docs/benchmarks.md), where it helped
            on every dataset, I3D-like synthetic features included.
    """

    normalize: Literal["none", "zscore"] = "zscore"


@dataclass
class ClusterConfig:
    """Spectral clustering of video descriptors (SPEC section 3) and the label-free round-0 descriptor.

    Attributes:
        solver: "auto" (dense while the N x N affinity fits, else sparse kNN), "dense" or "sparse".
        n_init: k-means restarts on the spectral embedding.
        n_neighbors: neighbours per video in the sparse kNN graph.
        pooling: snippet weights of the first clustering, before any model exists: "mean" (the paper),
            "distinctive" (the ``top_fraction`` of each video's snippets farthest from its median snippet) or
            "idf" (snippets weighted by how rare their codeword is across the training videos). Default
            "distinctive", chosen on the development suite (docs/benchmarks.md).
        top_fraction: share of snippets kept by "distinctive" pooling.
        codebook_size: codewords of "idf" pooling.
        center: subtract each video's median snippet before pooling (removes per-video signatures), every round.
            Off by default: it lifted the suite's datasets with per-video signatures (wearable sensors) and
            badly hurt the THUMOS14-like one, whose long actions fill much of their videos.
    """

    solver: Literal["auto", "dense", "sparse"] = "auto"
    n_init: int = 10
    n_neighbors: int = 30
    pooling: Literal["mean", "distinctive", "idf"] = "distinctive"
    top_fraction: float = 0.3
    codebook_size: int = 64
    center: bool = False


@dataclass
class PipelineConfig:
    """What `cotal fit` runs.

    Attributes:
        supervision: "none" (clusters as pseudo-labels, the paper's unsupervised mode) or "weak"
            (ground-truth video-level labels of the training videos).
        clusters: number of pseudo-classes C, or "auto" to estimate it from the eigengap.
        rounds: localization models trained in sequence; before each, the training videos are
            (re-)clustered, round 0 with ``cluster.pooling``, later rounds pooled with the previous
            model's class-agnostic attention S (authors: 4 on ActivityNet-1.2).
        warm_start: initialise each round's model from the previous round's instead of from scratch.
        streams: feature streams used.
        fusion: "late" trains one model per stream and fuses at detection (authors' default);
            "joint" trains one model on the concatenated streams.
        attention_pooling: how the next round pools the training videos. "per_stream": each stream with its
            own model's class-agnostic attention S (the paper); "geometric": every stream with the normalised
            geometric mean of the streams' S, i.e. where both streams agree (beyond the paper; chosen on a
            development set, see docs/benchmarks.md). Joint fusion has one S either way.
        seed: seeds clustering, sampling, initialisation and dropout.
        tiou_thresholds: evaluation thresholds when ground truth exists (reported only).
        select_round: which round's clusters and model the run ends with: "last", or "best" by the label-free
            score ``select_by`` (docs/clustering.md, "Round signals"); with "best", the rounds also stop
            after ``patience`` rounds without improvement (0: never early).
        select_by: the label-free round score: "silhouette" (cosine silhouette of the round's descriptors
            under its clusters) or "heldout" (how well the round's model predicts the pseudo-labels of the
            training videos held out from its training; needs ``heldout_fraction`` > 0).
        patience: rounds without a better score before stopping (select_round "best" only; 0: run all).
        core_fraction: share of each cluster's most confident videos (spectral-embedding margin) the first
            model trains on; the share grows linearly to 1 at the last round. 1: every video, every round.
        heldout_fraction: share of training videos left out of each round's training to measure how well the
            model predicts their pseudo-labels (a label-free signal). 0: train on all.
        attention_guard: stop the rounds when a model's class-agnostic attention S favours what every video
            shares over what sets each video apart (median rank correlation of S with snippet
            distinctiveness below 0); that round is not selectable and its S never pools a clustering.
    """

    supervision: Literal["none", "weak"] = "none"
    clusters: int | Literal["auto"] = 20
    rounds: int = 4
    warm_start: bool = False
    streams: tuple[str, ...] = ("rgb", "flow")
    fusion: Literal["late", "joint"] = "late"
    attention_pooling: Literal["per_stream", "geometric"] = "geometric"
    seed: int = 0
    tiou_thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    select_round: Literal["last", "best"] = "last"
    select_by: Literal["silhouette", "heldout"] = "silhouette"
    patience: int = 0
    core_fraction: float = 1.0
    heldout_fraction: float = 0.0
    attention_guard: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.core_fraction <= 1:
            raise ConfigError(f"pipeline.core_fraction must lie in (0, 1], got {self.core_fraction!r}")
        if not 0 <= self.heldout_fraction < 0.5:
            raise ConfigError(f"pipeline.heldout_fraction must lie in [0, 0.5), got {self.heldout_fraction!r}")
        if self.patience < 0:
            raise ConfigError(f"pipeline.patience must be >= 0, got {self.patience!r}")
        if self.select_by == "heldout" and self.heldout_fraction == 0 and self.select_round == "best":
            raise ConfigError("pipeline.select_by=heldout needs pipeline.heldout_fraction > 0")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ConfigError(
                f"pipeline.rounds must be an integer >= 1 (models trained in sequence), got {self.rounds!r}"
            )
        if self.clusters != "auto" and (isinstance(self.clusters, bool) or self.clusters < 2):
            raise ConfigError(f"pipeline.clusters must be 'auto' or an integer >= 2, got {self.clusters!r}")


@dataclass
class Config:
    """The whole resolved configuration of a run (written to ``RUN/config.yaml``)."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    """Tuples -> lists, recursively, so the dict is plain YAML."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def preset_path(name: str) -> Path:
    """Path of a named preset shipped with the package."""
    path = Path(str(resources.files("cotal") / "configs" / f"{name}.yaml"))
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return path


def _read_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections")
    base = raw.pop("_base_", None)
    if base is None:
        return raw
    base_path = preset_path(base) if base in PRESETS else (path.parent / base)
    return _merge(_read_with_bases(base_path, (*seen, path)), raw)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in child.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["train.epochs=5", "pipeline.streams=[rgb]"]`` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        *parents, leaf = key.strip().split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return out


def load_config(source: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Build a :class:`Config` from defaults, a preset name or YAML file, and overrides.

    Args:
        source: preset name (``demo``, ``thumos14``, ``activitynet12``), a YAML path, or None for defaults.
        overrides: nested dict applied last (see :func:`parse_overrides`).
    """
    data: dict[str, Any] = {}
    if source is not None:
        path = preset_path(str(source)) if str(source) in PRESETS else Path(source)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (presets: {', '.join(PRESETS)})")
        data = _read_with_bases(path)
    data = _merge(data, overrides or {})
    return _build(Config, data, "config")


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: {e}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; lists become tuples, ints become floats."""
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_t = args[0] if args else Any
        items = [_coerce(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if value is None and tp is type(None):
        return None
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value
