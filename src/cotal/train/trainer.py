"""Training loop of the co-attention model: seeded, resumable, single-process or DistributedDataParallel.

One optimisation step draws a global batch from the cluster sampler (Z clusters x K videos + uniform fill),
crops each video to at most ``max_len`` snippets, runs the model, and applies ``CoAttentionLoss`` to the whole
global batch. Under ``torchrun`` every rank runs the model on its contiguous shard of that batch, the outputs
are all-gathered, and each rank evaluates the loss on the gathered batch with only its own shard carrying
gradient; scaling by the world size makes DDP's gradient average equal the single-process gradient, so the
pair/triplet terms see the same pairs and negatives as in one process.

Determinism: the sampler draws from a seeded ``np.random.Generator`` (replayed on resume); the crop of batch
position ``j`` at step ``s`` uses ``default_rng([seed, s, j])`` (independent of rank and of resumption); dropout
draws from torch's generator, seeded once at entry with ``seed + rank`` and saved in every checkpoint. Checkpoints
and log rows are written every ``checkpoint_every`` / ``log_every`` steps, which never changes the result.

The checkpoint (:mod:`cotal.train.checkpoint`), the log (:mod:`cotal.train.log`), the input checks
(:mod:`cotal.train.inputs`) and the model file (:mod:`cotal.model.io`) live in their own modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from cotal.data import FeatureDataset
from cotal.errors import ConfigError
from cotal.model import CoAttentionLoss, CoAttentionModel, CoAttentionOutput, LossConfig, ModelConfig, save_model
from cotal.model.io import check_finite_state
from cotal.train.batching import collate, crop_indices, forward_bucketed, pad_time
from cotal.train.checkpoint import (
    CHECKPOINT,
    read_checkpoint,
    replay_sampler,
    run_fingerprint,
    set_torch_rng_state,
    torch_rng_state,
    write_checkpoint,
)
from cotal.train.config import (
    CLUSTERS_PER_BATCH,
    LR_DECAY_AT,
    LR_GAMMA,
    VIDEOS_PER_CLUSTER,
    WEIGHT_DECAY,
    TrainConfig,
)
from cotal.train.distributed import DistInfo, all_gather_objects, barrier, gather_outputs, setup_distributed
from cotal.train.guards import check_finite_loss
from cotal.train.inputs import check_groups, check_targets, feature_lengths
from cotal.train.log import LOG_CSV, TrainLog
from cotal.train.sampler import ClusterBatchSampler
from cotal.utils.device import select_device
from cotal.utils.precision import autocast
from cotal.utils.run import MODEL_FILE

FINAL_MODEL = MODEL_FILE


class Trainer:
    """One training run of a :class:`CoAttentionModel` on videos with (pseudo-)label distributions.

    ``Trainer(...).fit()`` trains (or resumes) and returns the model; the arguments are checked here.

    Args:
        dataset: features (memory-mapped) of the videos.
        video_ids: N training video ids (never test videos).
        targets: (N, C) label distributions (rows >= 0 summing to 1; multi-label rows split their mass).
        groups_of_video: for each video, the cluster/class ids it may be drawn for in the sampler's
            Z clusters x K videos part (an empty list: fill only).
        stream: the feature stream ("rgb" or "flow") the model reads; its dim D is the model's input dim.
        seed: seeds the initial weights, the sampler, the crops and dropout.
        model_config, loss_config, train_config: settings (None: the defaults). C is ``targets.shape[1]``.
        run_dir: receives checkpoint.pt (every ``checkpoint_every`` steps), train_log.csv (a row every
            ``log_every`` steps) and model.pt.
        progress: show a tqdm bar (rank 0 only); a string also names the bar (e.g. "round 2, rgb model").
        input_normalization: (shift, scale), two (D,) arrays: the model standardises its input as
            ``(x - shift) * scale`` (training-set statistics, :mod:`cotal.data.normalize`); None: identity.
    """

    def __init__(
        self,
        dataset: FeatureDataset,
        video_ids: Sequence[str],
        targets: np.ndarray,
        groups_of_video: Sequence[Sequence[int]],
        *,
        stream: str,
        run_dir: str | Path,
        seed: int = 0,
        model_config: ModelConfig | None = None,
        loss_config: LossConfig | None = None,
        train_config: TrainConfig | None = None,
        progress: bool | str = True,
        input_normalization: tuple[np.ndarray, np.ndarray] | None = None,
        checkpoint_every: int = 500,
        log_every: int = 10,
    ) -> None:
        model_config, loss_config = model_config or ModelConfig(), loss_config or LossConfig()
        self.config = train_config = train_config or TrainConfig()
        for name, value in (("seed", seed), ("checkpoint_every", checkpoint_every), ("log_every", log_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (name != "seed"):
                raise ConfigError(f"Trainer: {name} must be an integer >= {int(name != 'seed')}, got {value!r}")
        self.dataset = dataset
        self.video_ids = list(video_ids)
        self.stream = stream
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.checkpoint_every, self.log_every = checkpoint_every, log_every
        self.lengths = feature_lengths(dataset, self.video_ids, stream)
        num_classes = int(np.shape(targets)[1]) if np.ndim(targets) == 2 else 0
        self.targets = check_targets(targets, self.video_ids, num_classes)
        groups = check_groups(groups_of_video, self.video_ids, num_classes)
        self.device, self.dist = _setup_process(train_config, len(self.video_ids))

        norm = None
        if input_normalization is not None:
            norm = tuple(torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in input_normalization)
        self.seed = seed
        self.loss_fn = CoAttentionLoss(loss_config).to(self.device)
        in_dim = dataset.feature_dim(stream)
        self._initial = (lambda: CoAttentionModel(in_dim, num_classes, model_config), norm, groups)
        self._start()
        self.steps_per_epoch = len(self.sampler)
        self.total_steps = train_config.epochs * self.steps_per_epoch
        self.decay_step = round(LR_DECAY_AT * self.total_steps)
        self.fingerprint = run_fingerprint(
            video_ids=self.video_ids,
            groups_of_video=groups,
            stream=stream,
            targets=self.targets,
            seed=seed,
            model_config=model_config,
            loss_config=loss_config,
            train_config=train_config,
            world_size=self.dist.world_size,
            input_normalization=norm,
        )

    def _start(self) -> None:
        """The state before the first update (model, optimiser, sampler, log); every :meth:`fit` starts from it."""
        build, norm, groups = self._initial
        config = self.config
        self.model = _initial_model(build, self.seed, self.device, norm)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=WEIGHT_DECAY)
        self.net: torch.nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.sampler = ClusterBatchSampler(
            groups,
            batch_size=config.batch_size,
            clusters_per_batch=CLUSTERS_PER_BATCH,
            per_cluster=VIDEOS_PER_CLUSTER,
            seed=self.seed,
        )
        self.step = 0
        self.log = TrainLog(self.run_dir, writer=self.dist.is_main)
        self._started = False

    def lr_at(self, step: int) -> float:
        """Learning rate of update ``step`` (0-based): ``lr``, then ``lr * LR_GAMMA`` from ``decay_step`` on."""
        return self.config.lr * (LR_GAMMA if step >= self.decay_step else 1.0)

    def fit(self, resume: bool = True, max_steps: int | None = None) -> CoAttentionModel:
        """Train to ``epochs``; return the model (unwrapped from DDP) in eval mode, on the training device.

        Args:
            resume: continue from ``run_dir/checkpoint.pt`` when it exists (same run only; else ConfigError).
                The result equals that of an uninterrupted run.
            max_steps: stop after this update (checkpointing there) instead of the end, e.g. for a time limit.
        """
        # Dropout draws from torch's global generator: seed it inside fork_rng so the caller's state is untouched.
        with torch.random.fork_rng(devices=_cuda_devices(self.device)):
            torch.manual_seed(self.seed + self.dist.rank)  # dropout's stream differs across ranks' shards
            return self._fit(resume, max_steps)

    def _fit(self, resume: bool, max_steps: int | None) -> CoAttentionModel:
        if self._started:  # an earlier fit moved the state on: start again (a checkpoint then restores it)
            self._start()
        self._started = True
        self._prepare_run_dir(resume)
        stop = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        desc = self.progress if isinstance(self.progress, str) else "train"  # a string names the bar
        show = bool(self.progress) and self.dist.is_main
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not show, desc=desc)
        self.log.open_tensorboard()
        self.model.train()
        try:
            snippets, tic = 0, time.perf_counter()
            while self.step < stop:
                batch = self.sampler.sample()
                terms, n = self._train_step(batch.indices, batch.groups)
                self.log.add(terms)
                snippets += n
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items()}, refresh=False)
                if self.step % self.log_every == 0 or self.step == stop:
                    rate = snippets / max(time.perf_counter() - tic, 1e-9)
                    self.log.add_row(self.step, self.step / self.steps_per_epoch, self.lr_at(self.step - 1), rate)
                    snippets, tic = 0, time.perf_counter()
                if self.step % self.checkpoint_every == 0 or self.step == stop:
                    self._save_checkpoint()
        finally:
            bar.close()
            self.log.close_tensorboard()
        if self.step >= self.total_steps:
            self._save_model()
        self.model.eval()
        return self.model

    def _train_step(self, indices: np.ndarray, groups: np.ndarray) -> tuple[dict[str, float], int]:
        """One update on the global batch (B,) of video indices; returns the loss terms and the valid snippets."""
        world, rank = self.dist.world_size, self.dist.rank
        rows = [self._crop_rows(self.step, j, int(self.lengths[i])) for j, i in enumerate(indices)]
        batch = len(indices)
        shard = slice(rank * batch // world, (rank + 1) * batch // world)
        t_max = max(len(r) for r in rows)  # pad every shard to the global longest so outputs can be gathered
        seqs = [self._read_features(int(i), r) for i, r in zip(indices[shard], rows[shard], strict=True)]

        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.config.precision):
            if world == 1 and self.device.type == "cpu":
                # One process on a CPU: length buckets beat one padded batch (benchmarks/train_throughput.py).
                out, _ = forward_bucketed(self.net, seqs, device=self.device)
            else:
                x, mask = pad_time(*collate(seqs), t_max)
                out = self.net(x.to(self.device), mask.to(self.device))
        if self.config.precision != "float32":  # the losses (sums, margins, logs) run in float32
            out = CoAttentionOutput(**{f.name: getattr(out, f.name).float() for f in fields(out)})
        full_mask = torch.zeros(batch, t_max, dtype=torch.bool, device=self.device)
        for j, r in enumerate(rows):
            full_mask[j, : len(r)] = True
        if world > 1:
            out = gather_outputs(out, rank, world)
        targets = torch.from_numpy(self.targets[indices]).to(self.device)
        total, terms = self.loss_fn(out, full_mask, targets, torch.from_numpy(groups).long().to(self.device))
        check_finite_loss(total, terms, self.step, [self.video_ids[int(i)] for i in indices])
        (total * world).backward()  # DDP averages over ranks; each rank holds only its shard's share
        self.optimizer.step()
        self.step += 1
        return {k: float(v) for k, v in terms.items()}, int(sum(len(r) for r in rows))

    def _crop_rows(self, step: int, position: int, length: int) -> np.ndarray:
        """Snippet rows of the crop of batch ``position`` at ``step`` (rank- and resume-independent)."""
        rng = np.random.default_rng([self.seed, step, position])
        return crop_indices(length, self.config.max_len, rng)

    def _read_features(self, index: int, rows: np.ndarray) -> np.ndarray:
        """(len(rows), D) float32 features of video ``index`` at ``rows`` (contiguous: one sequential read)."""
        sel = slice(int(rows[0]), int(rows[-1]) + 1)
        return np.array(self.dataset.features(self.video_ids[index], self.stream)[sel], dtype=np.float32)

    def _prepare_run_dir(self, resume: bool) -> None:
        """Create run_dir; restore its checkpoint (``resume``) or remove every file of an earlier run."""
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resume:  # start over: no stale checkpoint, log or model of an earlier run may survive
                for name in (CHECKPOINT, LOG_CSV, FINAL_MODEL):
                    (self.run_dir / name).unlink(missing_ok=True)
        barrier()
        path = self.run_dir / CHECKPOINT
        if resume and path.exists():
            state = read_checkpoint(path, self.fingerprint, self.device)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            set_torch_rng_state(state["torch_rng"][self.dist.rank], self.device)
            self.step = int(state["step"])
            replay_sampler(self.sampler, self.step)
            self.log.restore(state, self.step)

    def _save_checkpoint(self) -> None:
        # Every rank checks (DDP keeps the weights equal): one rank raising alone would leave the others at barrier.
        check_finite_state(self.model.state_dict(), self.run_dir / CHECKPOINT, "save")
        torch_states = all_gather_objects(torch_rng_state(self.device))
        if self.dist.is_main:
            write_checkpoint(
                self.run_dir / CHECKPOINT,
                step=self.step,
                fingerprint=self.fingerprint,
                model=self.model,
                optimizer=self.optimizer,
                torch_rng=torch_states,
                log_state=self.log.state(),
            )
            self.log.write()
        barrier()

    def _save_model(self) -> None:
        check_finite_state(self.model.state_dict(), self.run_dir / FINAL_MODEL, "save")  # on every rank, as above
        if self.dist.is_main:
            save_model(self.run_dir / FINAL_MODEL, self.model, stream=self.stream, step=self.step)
        barrier()


def _setup_process(config: TrainConfig, num_videos: int) -> tuple[torch.device, DistInfo]:
    """This process's device and place in the (torchrun) process group."""
    device = select_device(config.device, "train.device")
    info = setup_distributed(use_cuda=device.type == "cuda")
    if info.enabled and device.type == "cuda":
        if device.index not in (None, info.local_rank):  # NCCL needs one GPU per process
            raise ConfigError(
                f"train.device {config.device!r} under torchrun: every process would use that GPU; "
                "use 'cuda' or 'auto' (each process takes cuda:LOCAL_RANK)"
            )
        device = torch.device("cuda", info.local_rank)
    batch = min(config.batch_size, num_videos)  # the sampler caps the batch at N
    if batch % info.world_size:
        raise ConfigError(f"the batch of {batch} videos is not divisible by the {info.world_size} processes")
    return device, info


def _initial_model(
    build: Callable[[], CoAttentionModel],
    seed: int,
    device: torch.device,
    normalization: tuple[torch.Tensor, torch.Tensor] | None,
) -> CoAttentionModel:
    """The model before the first step: seeded initial weights and its input standardisation."""
    with torch.random.fork_rng(devices=_cuda_devices(device)):  # seeded here, the caller's generator untouched
        torch.manual_seed(seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model = build().to(device)
    if normalization is not None:
        model.set_input_normalization(*normalization)
    return model


def _cuda_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose generator ``fork_rng`` must save and restore (none on the CPU)."""
    return [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
