"""Process-group helpers for ``torchrun``: no-ops in a plain single-process run.

``torchrun --nproc_per_node=N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and the rendezvous address)
in every process; :func:`setup_distributed` reads them and joins the group (NCCL on GPU, gloo on CPU). When
they are absent it returns a single-process :class:`DistInfo` and touches nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from cotal.errors import ConfigError

if TYPE_CHECKING:
    from cotal.model.coattention import CoAttentionOutput

_created_group = False  # whether setup_distributed created the default group (teardown only destroys ours)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def dist_info() -> DistInfo:
    """Rank/world size of the running group, else from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, else (0, 1, 0)."""
    local = _env_int("LOCAL_RANK") or 0
    if dist.is_available() and dist.is_initialized():
        return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local)
    world = _env_int("WORLD_SIZE") or 1
    rank = _env_int("RANK") or 0
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} / WORLD_SIZE={world} are inconsistent")
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def setup_distributed(use_cuda: bool) -> DistInfo:
    """Join the process group described by the environment (idempotent; a no-op without ``torchrun``).

    Args:
        use_cuda: pick NCCL and bind this process to ``cuda:LOCAL_RANK``; otherwise gloo.
    """
    global _created_group
    info = dist_info()
    if not info.enabled or dist.is_initialized():
        if info.enabled and use_cuda:
            torch.cuda.set_device(info.local_rank)
        return info
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=info.rank, world_size=info.world_size)
    _created_group = True
    return info


def teardown_distributed() -> None:
    """Destroy the process group if :func:`setup_distributed` created it (call once, at the end of the job)."""
    global _created_group
    if _created_group and dist.is_initialized():
        dist.destroy_process_group()
    _created_group = False


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank; ``[obj]`` when not distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_outputs(out: CoAttentionOutput, rank: int, world: int) -> CoAttentionOutput:
    """Concatenate every rank's outputs along the batch; only this rank's slice keeps its autograd graph."""
    gathered = {}
    for f in fields(out):
        local = getattr(out, f.name)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local.detach().contiguous())
        parts[rank] = local
        gathered[f.name] = torch.cat(parts, dim=0)
    return replace(out, **gathered)
