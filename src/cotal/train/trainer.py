"""Training loop of the co-attention model: seeded, resumable, single-process or DistributedDataParallel.

One optimisation step draws a global batch from the cluster sampler (Z clusters x K videos + uniform fill),
crops each video to at most ``max_len`` snippets, runs the model, and applies ``CoAttentionLoss`` to the whole
global batch. Under ``torchrun`` every rank runs the model on its contiguous shard of that batch, the outputs
are all-gathered, and each rank evaluates the loss on the gathered batch with only its own shard carrying
gradient; scaling by the world size makes DDP's gradient average equal the single-process gradient, so the
pair/triplet terms see the same pairs and negatives as in one process.

Determinism: the sampler draws from a seeded ``np.random.Generator`` (replayed on resume); the crop of batch
position ``j`` at step ``s`` uses ``default_rng([seed, s, j])`` (independent of rank and of resumption); dropout
draws from torch's generator, seeded once at entry with ``seed + rank`` and saved in every checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from cotal.data import FeatureDataset
from cotal.data.problems import stream_length_problem
from cotal.errors import ConfigError, DataError
from cotal.model import CoAttentionLoss, CoAttentionModel, CoAttentionOutput, LossConfig, ModelConfig
from cotal.train.batching import collate, crop_indices, forward_bucketed
from cotal.train.config import TrainConfig
from cotal.train.distributed import DistInfo, all_gather_objects, barrier, setup_distributed
from cotal.train.guards import check_finite_loss, check_finite_state
from cotal.train.sampler import ClusterBatchSampler
from cotal.utils.io import atomic_open, torch_load_safe, torch_save_atomic
from cotal.utils.precision import autocast

CHECKPOINT = "checkpoint.pt"
FINAL_MODEL = "model.pt"
LOG_CSV = "train_log.csv"
CHECKPOINT_FORMAT = "cotal-train-checkpoint-v1"
MODEL_FORMAT = "cotal-model-v1"


# Settings that do not change the trajectory: a run may resume with different values.
_NON_TRAJECTORY = ("checkpoint_every", "log_every", "num_threads", "device")


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but torch sees no CUDA device")
    return torch.device(name)


class Trainer:
    """Trains one :class:`CoAttentionModel` on ``video_ids`` with (pseudo-)label distributions ``targets``.

    See :func:`train_model` for the arguments. ``fit`` runs (or resumes) the training and returns the model.
    """

    def __init__(
        self,
        dataset: FeatureDataset,
        video_ids: Sequence[str],
        targets: np.ndarray,
        groups_of_video: Sequence[Sequence[int]],
        *,
        stream: str | tuple[str, ...],
        model_config: ModelConfig,
        loss_config: LossConfig,
        train_config: TrainConfig,
        run_dir: str | Path,
        progress: bool | str = True,
        init_state: dict[str, torch.Tensor] | None = None,
        input_normalization: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.dataset = dataset
        self.video_ids = list(video_ids)
        self.streams = (stream,) if isinstance(stream, str) else tuple(stream)
        self.model_config = model_config
        self.loss_config = loss_config
        self.config = train_config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.targets = _check_targets(targets, self.video_ids, model_config.num_classes)
        self.groups_of_video = _check_groups(groups_of_video, self.video_ids, model_config.num_classes)
        self.lengths = self._check_features()

        device = _resolve_device(train_config.device)
        self.dist: DistInfo = setup_distributed(use_cuda=device.type == "cuda")
        if self.dist.enabled and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        batch = min(train_config.batch_size, len(self.video_ids))  # the sampler caps the batch at N
        if batch % self.dist.world_size:
            raise ConfigError(f"the batch of {batch} videos is not divisible by the {self.dist.world_size} processes")
        if train_config.num_threads is not None:
            torch.set_num_threads(train_config.num_threads)

        torch.manual_seed(train_config.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        self.model = CoAttentionModel(model_config).to(device)
        self.norm_digest = None
        if input_normalization is not None:
            shift, scale = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in input_normalization)
            self.model.set_input_normalization(shift, scale)
            self.norm_digest = hashlib.sha256(shift.numpy().tobytes() + scale.numpy().tobytes()).hexdigest()
        self.init_digest = None
        if init_state is not None:  # warm start (e.g. from the previous co-attention round)
            self.model.load_state_dict(init_state)
            digest = hashlib.sha256()
            for name, tensor in sorted(init_state.items()):
                digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
            self.init_digest = digest.hexdigest()
        torch.manual_seed(train_config.seed + self.dist.rank)  # dropout differs across ranks' shards
        self.loss_fn = CoAttentionLoss(loss_config).to(device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
        )
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.sampler = self._new_sampler()
        self.steps_per_epoch = len(self.sampler)
        self.total_steps = train_config.epochs * self.steps_per_epoch
        self.decay_step = round(train_config.lr_decay_at * self.total_steps)
        self.step = 0
        self.log_rows: list[dict[str, float]] = []
        # Loss sums of the steps since the last log row (checkpointed, so a resumed log equals a straight one).
        self.log_sums: dict[str, float] = {}
        self.log_count = 0
        self.fingerprint = self._fingerprint()

    def _new_sampler(self) -> ClusterBatchSampler:
        return ClusterBatchSampler(
            self.groups_of_video,
            batch_size=self.config.batch_size,
            num_clusters=self.config.clusters_per_batch,
            per_cluster=self.config.videos_per_cluster,
            seed=self.config.seed,
        )

    # -- validation -------------------------------------------------------------------------------
    def _check_features(self) -> np.ndarray:
        """Check streams, files and dims; return the (N,) snippet counts (read from file headers)."""
        missing = [s for s in self.streams if s not in self.dataset.streams]
        if missing:
            raise DataError(f"{self.dataset.root}: no {', '.join(missing)} features (has {self.dataset.streams})")
        in_dim = sum(self.dataset.feature_dim(s) for s in self.streams)
        if in_dim != self.model_config.in_dim:
            raise ConfigError(
                f"model.in_dim is {self.model_config.in_dim} but stream(s) {'+'.join(self.streams)} have {in_dim}"
            )
        lengths = np.empty(len(self.video_ids), dtype=np.int64)
        for i, vid in enumerate(self.video_ids):
            per_stream = {s: self.dataset.feature_shape(vid, s)[0] for s in self.streams}
            problem = stream_length_problem(self.dataset.root, vid, per_stream)
            if problem is not None:
                raise problem.error()
            lengths[i] = per_stream[self.streams[0]]
        return lengths

    def _fingerprint(self) -> dict[str, Any]:
        """Everything that determines the trajectory; a checkpoint resumes only a run with the same one."""
        data = hashlib.sha256()
        data.update(json.dumps([self.video_ids, self.groups_of_video, list(self.streams)]).encode())
        data.update(np.ascontiguousarray(self.targets).tobytes())
        train = {k: v for k, v in asdict(self.config).items() if k not in _NON_TRAJECTORY}
        if train["precision"] == "float32":  # the default leaves the fingerprint of earlier checkpoints unchanged
            del train["precision"]
        raw = {
            "model": asdict(self.model_config),
            "loss": asdict(self.loss_config),
            "train": train,
            "data": data.hexdigest(),
            "world_size": self.dist.world_size,
            "init": self.init_digest,
            "input_normalization": self.norm_digest,
        }
        return json.loads(json.dumps(raw))

    # -- batches ----------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Learning rate of update ``step`` (0-based): ``lr`` then ``lr * lr_gamma`` from ``decay_step`` on."""
        return self.config.lr * (self.config.lr_gamma if step >= self.decay_step else 1.0)

    def _crop_rows(self, step: int, position: int, length: int) -> np.ndarray:
        """Snippet rows of the crop of batch ``position`` at ``step`` (rank- and resume-independent)."""
        rng = np.random.default_rng([self.config.seed, step, position])
        return crop_indices(length, self.config.max_len, rng, self.config.crop)

    def _load(self, index: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows), D) float32 features of video ``index`` at ``rows`` (streams concatenated)."""
        vid = self.video_ids[index]
        contiguous = rows[-1] - rows[0] + 1 == len(rows)  # full videos and "crop" windows: one sequential read
        sel = slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows
        parts = [np.array(self.dataset.features(vid, s)[sel], dtype=np.float32) for s in self.streams]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    # -- one step ---------------------------------------------------------------------------------
    def _train_step(self, indices: np.ndarray, groups: np.ndarray) -> tuple[dict[str, float], int]:
        """One update on the global batch; returns the loss terms and the number of valid snippets."""
        world, rank = self.dist.world_size, self.dist.rank
        rows = [self._crop_rows(self.step, j, int(self.lengths[i])) for j, i in enumerate(indices)]
        batch = len(indices)
        shard = slice(rank * batch // world, (rank + 1) * batch // world)
        t_max = max(len(r) for r in rows)  # pad every shard to the global longest so outputs can be gathered
        seqs = [self._load(int(i), r) for i, r in zip(indices[shard], rows[shard], strict=True)]

        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.config.precision):
            if world == 1 and self.device.type == "cpu":
                # One process on a CPU: length buckets beat one padded batch (benchmarks/train_throughput.py).
                out, _ = forward_bucketed(self.net, seqs, device=self.device)
            else:
                x, mask = _pad_time(*collate(seqs), t_max)
                out = self.net(x.to(self.device), mask.to(self.device))
        if self.config.precision != "float32":  # the losses (sums, margins, logs) run in float32
            out = CoAttentionOutput(**{f.name: getattr(out, f.name).float() for f in fields(out)})
        full_mask = torch.zeros(batch, t_max, dtype=torch.bool, device=self.device)
        for j, r in enumerate(rows):
            full_mask[j, : len(r)] = True
        if world > 1:
            out = _gather_outputs(out, rank, world)
        targets = torch.from_numpy(self.targets[indices]).to(self.device)
        total, terms = self.loss_fn(out, full_mask, targets, torch.from_numpy(groups).long().to(self.device))
        check_finite_loss(total, terms, self.step, [self.video_ids[int(i)] for i in indices])
        (total * world).backward()  # DDP averages over ranks; each rank holds only its shard's share
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {k: float(v) for k, v in terms.items()}, int(sum(len(r) for r in rows))

    # -- checkpoints ------------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        # Every rank checks (DDP keeps the weights equal): one rank raising alone would leave the others at barrier.
        check_finite_state(self.model.state_dict(), self.run_dir / CHECKPOINT, "save")
        torch_states = all_gather_objects(_torch_rng_state(self.device))
        if self.dist.is_main:
            torch_save_atomic(
                self.run_dir / CHECKPOINT,
                {
                    "format": CHECKPOINT_FORMAT,
                    "step": self.step,
                    "fingerprint": json.dumps(self.fingerprint, sort_keys=True),
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "torch_rng": torch_states,
                    "log_sums": dict(self.log_sums),
                    "log_count": self.log_count,
                },
            )
            self._write_log()
        barrier()

    def _load_checkpoint(self, path: Path) -> None:
        state = torch_load_safe(path, map_location=str(self.device))
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise DataError(f"{path}: not a cotal training checkpoint")
        saved = json.loads(state["fingerprint"])
        if saved != self.fingerprint:
            diff = _first_difference(saved, self.fingerprint)
            raise ConfigError(f"{path}: written by a different run ({diff}); use another run directory or resume=False")
        check_finite_state(state["model"], path, "resume")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        _set_torch_rng_state(state["torch_rng"][self.dist.rank], self.device)
        self.step = int(state["step"])
        self.log_sums, self.log_count = dict(state["log_sums"]), int(state["log_count"])
        # Replaying the sampler's draws (cheap numpy calls) restores its stream exactly without private state.
        self.sampler = self._new_sampler()
        for _ in range(self.step):
            self.sampler.sample()
        self.log_rows = [row for row in _read_log(self.run_dir / LOG_CSV) if row["step"] <= self.step]

    def _save_model(self) -> None:
        check_finite_state(self.model.state_dict(), self.run_dir / FINAL_MODEL, "save")  # on every rank, as above
        if self.dist.is_main:
            save_model(self.run_dir / FINAL_MODEL, self.model, streams=self.streams, step=self.step)
        barrier()

    # -- logging ----------------------------------------------------------------------------------
    def _log_row(self, snippets_per_s: float, tb: Any) -> None:
        """Append the means of the loss terms since the last row; rank 0 rewrites the CSV (and TensorBoard)."""
        row = {"step": self.step, "epoch": self.step / self.steps_per_epoch, "lr": self.lr_at(self.step - 1)}
        row |= {k: v / self.log_count for k, v in self.log_sums.items()}
        row["snippets_per_s"] = snippets_per_s
        self.log_rows.append(row)
        self.log_sums, self.log_count = {}, 0
        if self.dist.is_main:
            self._write_log()
            if tb is not None:
                for k, v in row.items():
                    if k != "step":
                        tb.add_scalar(f"train/{k}", v, self.step)

    def _write_log(self) -> None:
        if not self.log_rows:
            return
        columns = list(self.log_rows[0])
        with atomic_open(self.run_dir / LOG_CSV, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.log_rows)

    # -- main loop --------------------------------------------------------------------------------
    def fit(self, resume: bool = True, max_steps: int | None = None) -> CoAttentionModel:
        """Train to ``epochs`` (or stop after update ``max_steps``, checkpointing there); return the model.

        With ``resume``, an existing ``run_dir/checkpoint.pt`` of the same run is restored first, and the
        result equals that of an uninterrupted run.
        """
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resume:  # start over: no stale checkpoint, log or model of an earlier run may survive
                for name in (CHECKPOINT, LOG_CSV, FINAL_MODEL):
                    (self.run_dir / name).unlink(missing_ok=True)
        barrier()
        ckpt = self.run_dir / CHECKPOINT
        if resume and ckpt.exists():
            self._load_checkpoint(ckpt)
        stop = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        main = self.dist.is_main
        desc = self.progress if isinstance(self.progress, str) else "train"  # a string names the bar
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (self.progress and main), desc=desc)
        tb = _tensorboard_writer(self.run_dir) if main else None
        self.model.train()
        try:
            snippets, tic = 0, time.perf_counter()
            while self.step < stop:
                batch = self.sampler.sample()
                terms, n = self._train_step(batch.indices, batch.groups)
                for k, v in terms.items():
                    self.log_sums[k] = self.log_sums.get(k, 0.0) + v
                self.log_count, snippets = self.log_count + 1, snippets + n
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items()}, refresh=False)
                if self.step % self.config.log_every == 0 or self.step == stop:
                    self._log_row(snippets / max(time.perf_counter() - tic, 1e-9), tb)
                    snippets, tic = 0, time.perf_counter()
                if self.step % self.config.checkpoint_every == 0 or self.step == stop:
                    self._save_checkpoint()
        finally:
            bar.close()
            if tb is not None:
                tb.close()
        if self.step >= self.total_steps:
            self._save_model()
        self.model.eval()
        return self.model


def train_model(
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    targets: np.ndarray,
    groups_of_video: Sequence[Sequence[int]],
    *,
    stream: str | tuple[str, ...],
    model_config: ModelConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    resume: bool = True,
    progress: bool | str = True,
    max_steps: int | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    input_normalization: tuple[np.ndarray, np.ndarray] | None = None,
) -> CoAttentionModel:
    """Train a co-attention model on training videos with (pseudo-)label distributions.

    Args:
        dataset: features (memory-mapped) of the videos.
        video_ids: N training video ids (never test videos).
        targets: (N, C) label distributions (rows >= 0 summing to 1; multi-label rows split their mass).
        groups_of_video: for each video, the cluster/class ids it may be drawn for in the sampler's
            Z clusters x K videos part (an empty list: fill only).
        stream: one stream ("rgb"/"flow") or a tuple for a joint input (features concatenated in that order).
        model_config, loss_config, train_config: settings; ``model_config.in_dim`` must match the stream(s).
        run_dir: receives checkpoint.pt (every ``checkpoint_every`` steps), train_log.csv and model.pt.
        resume: continue from ``run_dir/checkpoint.pt`` when it exists (same run only; else ConfigError).
        progress: show a tqdm bar (rank 0 only); a string also names the bar (e.g. "round 2, rgb model").
        max_steps: stop after this update (checkpointing there) instead of the end, e.g. for a time limit.
        init_state: initial weights (a ``state_dict`` of the same architecture) instead of a random init.
        input_normalization: (shift, scale), two (in_dim,) arrays: the model standardises its input as
            ``(x - shift) * scale`` (training-set statistics, :mod:`cotal.data.normalize`); None: identity.

    Returns:
        The trained model (unwrapped from DDP) in eval mode, on the training device.
    """
    trainer = Trainer(
        dataset,
        video_ids,
        targets,
        groups_of_video,
        stream=stream,
        model_config=model_config,
        loss_config=loss_config,
        train_config=train_config,
        run_dir=run_dir,
        progress=progress,
        init_state=init_state,
        input_normalization=input_normalization,
    )
    return trainer.fit(resume=resume, max_steps=max_steps)


# -- model files ----------------------------------------------------------------------------------
def save_model(path: str | Path, model: CoAttentionModel, *, streams: Sequence[str], step: int) -> None:
    """Write a trained model (config, weights, input streams) atomically; load with :func:`load_model`."""
    cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    check_finite_state(cpu_state, path, "save")
    torch_save_atomic(
        path,
        {
            "format": MODEL_FORMAT,
            "model_config": asdict(model.config),
            "state_dict": cpu_state,
            "streams": list(streams),
            "step": int(step),
        },
    )


def load_model(path: str | Path, device: str = "cpu") -> tuple[CoAttentionModel, tuple[str, ...]]:
    """Load a ``model.pt`` written by training (weights_only): returns (model in eval mode, input streams)."""
    state = torch_load_safe(path, map_location=device)
    if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a cotal model file")
    check_finite_state(state["state_dict"], path, "load")
    model = CoAttentionModel(ModelConfig.from_dict(state["model_config"])).to(device)
    weights = state["state_dict"]
    for key in ("input_shift", "input_scale"):  # model files written before input standardisation existed
        weights.setdefault(key, getattr(model, key))
    model.load_state_dict(weights)
    model.eval()
    return model, tuple(state["streams"])


# -- helpers --------------------------------------------------------------------------------------
def _check_targets(targets: np.ndarray, video_ids: list[str], num_classes: int) -> np.ndarray:
    """Validate (N, C) label distributions; return them as float32."""
    if not video_ids:
        raise DataError("train_model: the list of training videos is empty")
    duplicates = sorted(v for v, n in Counter(video_ids).items() if n > 1)
    if duplicates:
        raise DataError(f"train_model: video id(s) listed twice: {', '.join(duplicates[:5])}")
    arr = np.asarray(targets)
    expected = (len(video_ids), num_classes)
    if arr.shape != expected:
        raise DataError(f"train_model: targets have shape {arr.shape}, expected (videos, classes) = {expected}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or (arr < 0).any():
        bad = int(np.argwhere(~np.isfinite(arr) | (arr < 0))[0, 0])
        raise DataError(f"train_model: targets of video {video_ids[bad]!r} are negative or not finite")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > 1e-4)
    if off.size:
        raise DataError(
            f"train_model: targets of video {video_ids[off[0]]!r} sum to {sums[off[0]]:.4g}, not 1 (a distribution)"
        )
    return arr


def _check_groups(groups_of_video: Sequence[Sequence[int]], video_ids: list[str], num_classes: int) -> list[list[int]]:
    """Validate the per-video cluster/class ids (each in [0, C): the losses index A's columns with them)."""
    if len(groups_of_video) != len(video_ids):
        raise DataError(f"train_model: groups_of_video has {len(groups_of_video)} entries for {len(video_ids)} videos")
    out = []
    for vid, groups in zip(video_ids, groups_of_video, strict=True):
        ints = [int(g) for g in groups]
        if any(not 0 <= g < num_classes for g in ints):
            raise DataError(f"train_model: video {vid!r} has group id(s) {ints} outside [0, {num_classes})")
        out.append(ints)
    return out


def _pad_time(x: Tensor, mask: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """Zero-pad x (B,T,D) and mask (B,T) along time to ``length``."""
    extra = length - x.shape[1]
    if extra == 0:
        return x, mask
    return torch.nn.functional.pad(x, (0, 0, 0, extra)), torch.nn.functional.pad(mask, (0, extra), value=False)


def _gather_outputs(out: CoAttentionOutput, rank: int, world: int) -> CoAttentionOutput:
    """Concatenate every rank's outputs along the batch; only this rank's slice keeps its autograd graph."""
    gathered = {}
    for f in fields(out):
        local = getattr(out, f.name)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local.detach().contiguous())
        parts[rank] = local
        gathered[f.name] = torch.cat(parts, dim=0)
    return replace(out, **gathered)


def _torch_rng_state(device: torch.device) -> dict[str, Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device).cpu()
    return state


def _set_torch_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """'key: old != new' for the first differing leaf of two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return f"{prefix.rstrip('.')}: {a!r} != {b!r}"


def _read_log(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    return [
        {k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))
    ]


def _tensorboard_writer(run_dir: Path) -> Any:
    """A TensorBoard SummaryWriter in run_dir/tensorboard when the optional package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
