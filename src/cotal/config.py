"""Configuration: one dataclass per stage, explicit defaults, YAML presets that inherit.

A config file is YAML with one section per stage (``pipeline``, ``cluster``, ``model``, ``loss``,
``train``, ``detect``). ``_base_: <preset name or relative path>`` inherits another file; the child's keys
override the base's, section by section. Command-line overrides use dotted keys (``train.epochs=5``).
Unknown keys and wrongly typed values raise :class:`ConfigError` naming the key, so a typo never silently
falls back to a default. Each stage's dataclass lives in ``<stage>/config.py``; all are built by
:func:`cotal.utils.configs.build_config`. A key renamed since a file was written (:data:`RENAMED_KEYS`) is
still read, with a :class:`FutureWarning`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cotal.cluster.config import ClusterConfig
from cotal.data.config import DataConfig
from cotal.detect.config import DetectConfig
from cotal.errors import ConfigError, DataError
from cotal.evaluate.detection import THUMOS14_TIOU
from cotal.model.config import LossConfig, ModelConfig
from cotal.train.config import TrainConfig
from cotal.utils.configs import build_config, check_choices, check_range
from cotal.utils.io import parse_yaml, read_yaml
from cotal.utils.text import short_repr

PRESETS = ("demo", "thumos14", "activitynet12")


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
        stream_models: "per_stream" trains one model per stream, whose outputs detection fuses (authors'
            default; see ``detect.fusion``); "joint" trains one model on the concatenated streams. Formerly
            ``pipeline.fusion: late | joint``, still read with a warning (:data:`RENAMED_KEYS`).
        attention_pooling: how the next round pools the training videos. "per_stream": each stream with its
            own model's class-agnostic attention S (the paper); "geometric": every stream with the normalised
            geometric mean of the streams' S, i.e. where both streams agree (beyond the paper; chosen on a
            development set, see docs/benchmarks.md). A joint model has one S either way.
        seed: seeds clustering, sampling, initialisation and dropout.
        tiou_thresholds: evaluation thresholds when ground truth exists (reported only); default THUMOS14's.
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
    stream_models: Literal["per_stream", "joint"] = "per_stream"
    attention_pooling: Literal["per_stream", "geometric"] = "geometric"
    seed: int = 0
    tiou_thresholds: tuple[float, ...] = THUMOS14_TIOU
    select_round: Literal["last", "best"] = "last"
    select_by: Literal["silhouette", "heldout"] = "silhouette"
    patience: int = 0
    core_fraction: float = 1.0
    heldout_fraction: float = 0.0
    attention_guard: bool = True

    def __post_init__(self) -> None:
        check_choices(self, "pipeline")
        check_range(self, "pipeline", ("core_fraction",), low=0, high=1, low_open=True)
        check_range(self, "pipeline", ("heldout_fraction",), low=0, high=0.5, high_open=True)
        check_range(self, "pipeline", ("patience",), low=0, integer=True)
        check_range(self, "pipeline", ("rounds",), low=1, integer=True)
        if self.select_by == "heldout" and self.heldout_fraction == 0 and self.select_round == "best":
            raise ConfigError("pipeline.select_by=heldout needs pipeline.heldout_fraction > 0")
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
    raw = rename_legacy_keys(raw, str(path))
    base = raw.pop("_base_", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: _base_ must be one preset name or file path, got {short_repr(base)}")
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
        try:
            node[leaf] = parse_yaml(value, f"override {short_repr(item)}")
        except DataError as e:
            raise ConfigError(str(e)) from None
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
    data = _merge(data, rename_legacy_keys(overrides or {}, "overrides"))
    return build_config(Config, data, "")  # messages name the key as written: detect.nms, not config.detect.nms


# Keys renamed since a config could be written: (section, old key) -> (new key, {old value: new value}).
RENAMED_KEYS: dict[tuple[str, str], tuple[str, dict[Any, Any]]] = {
    ("pipeline", "fusion"): ("stream_models", {"late": "per_stream", "joint": "joint"}),
}


def rename_legacy_keys(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` (config sections, e.g. an old ``RUN/config.yaml``) with :data:`RENAMED_KEYS` under their new names.

    Each old key found gives one :class:`FutureWarning` naming ``where``; a value the old key never took is left
    for the builder to reject under the new key's name.
    """
    out = dict(data)
    for (section, old), (new, values) in RENAMED_KEYS.items():
        part = out.get(section)
        if not isinstance(part, dict) or old not in part:
            continue
        if new in part:
            raise ConfigError(f"{where}: {section}.{old} is the old name of {section}.{new}; give only the latter")
        part = dict(part)
        value = part.pop(old)
        mapped = values.get(value, value) if isinstance(value, str) else value
        hint = ", ".join(f"{a} -> {b}" for a, b in values.items())
        warnings.warn(
            f"{where}: {section}.{old} is deprecated; write {section}.{new} ({hint})", FutureWarning, stacklevel=2
        )
        out[section] = {**part, new: mapped}
    return out
