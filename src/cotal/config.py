"""Configuration: one dataclass per stage, explicit defaults, YAML presets that inherit.

A config file is YAML with one section per stage (``pipeline``, ``cluster``, ``model``, ``loss``,
``train``, ``detect``). ``_base_: <preset name or relative path>`` inherits another file; the child's keys
override the base's, section by section. Command-line overrides use dotted keys (``train.epochs=5``).
Unknown keys and wrongly typed values raise :class:`ConfigError` naming the key, so a typo never silently
falls back to a default. Each stage's dataclass lives in ``<stage>/config.py``; all are built by
:func:`cotal.utils.configs.build_config`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from cotal.cluster.config import ClusterConfig
from cotal.data.config import STREAMS, DataConfig
from cotal.detect.config import DetectConfig
from cotal.errors import ConfigError, DataError
from cotal.evaluate.tiou import THUMOS14_TIOU
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
            round's class-agnostic attention S (authors: 4 on ActivityNet-1.2).
        streams: feature streams used; one model is trained per stream and detection fuses them.
        attention_pooling: how the next round pools the training videos. "per_stream": each stream with its
            own model's class-agnostic attention S (the paper); "geometric": every stream with the normalised
            geometric mean of the streams' S, i.e. where both streams agree (docs/method.md D3).
        seed: seeds clustering; each model's training seed is derived from (seed, round, stream).
        tiou_thresholds: evaluation thresholds when ground truth exists (reported only); default THUMOS14's.
        select_round: which round's clusters and models the run ends with, among the rounds whose S is neither
            inverted nor flat (docs/method.md D4): "consensus" (default: the round whose clustering agrees best
            with the others and with the clustering the last S would give next; D12) or "last" (the authors').
    """

    supervision: Literal["none", "weak"] = "none"
    clusters: int | Literal["auto"] = 20
    rounds: int = 4
    streams: tuple[str, ...] = ("rgb", "flow")
    attention_pooling: Literal["per_stream", "geometric"] = "geometric"
    seed: int = 0
    tiou_thresholds: tuple[float, ...] = THUMOS14_TIOU
    select_round: Literal["consensus", "last"] = "consensus"

    def __post_init__(self) -> None:
        check_choices(self, "pipeline")
        check_range(self, "pipeline", ("rounds",), low=1, integer=True)
        check_range(self, "pipeline", ("seed",), low=0, high=2**32 - 1, integer=True)
        if self.clusters != "auto" and (isinstance(self.clusters, bool) or self.clusters < 2):
            raise ConfigError(f"pipeline.clusters must be 'auto' or an integer >= 2, got {self.clusters!r}")
        unknown = [s for s in self.streams if s not in STREAMS]
        if not self.streams or unknown or len(set(self.streams)) < len(self.streams):
            raise ConfigError(f"pipeline.streams must be distinct names among {', '.join(STREAMS)}, got {self.streams}")


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
    data = _merge(data, overrides or {})
    return build_config(Config, data, "")  # messages name the key as written: detect.nms, not config.detect.nms
