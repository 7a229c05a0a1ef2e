"""Shared helpers of the trainer tests: a tiny model, ground-truth video labels of the toy dataset, and a trainer
of both."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from cotal.data import FeatureDataset
from cotal.model import LossConfig, ModelConfig
from cotal.train.config import TrainConfig
from cotal.train.sampler import label_targets
from cotal.train.trainer import Trainer


def tiny_model_config(dropout: float = 0.5) -> ModelConfig:
    """A model small enough to train in a second on two shared CPU cores."""
    return ModelConfig(base_dim=16, dropout=dropout)


def tiny_train_config(**overrides: object) -> TrainConfig:
    """Short runs with crops (max_len below the toy lengths) on the CPU."""
    return replace(TrainConfig(epochs=4, batch_size=6, max_len=24, device="cpu"), **overrides)


def gt_labels(dataset: FeatureDataset) -> tuple[list[str], np.ndarray, np.ndarray, list[list[int]]]:
    """Training ids, their class index (N,), target distributions (N,C) and per-video groups (weak supervision)."""
    ids = dataset.train_ids
    labels = np.array([dataset.classes.index(dataset.annotation(v).labels[0]) for v in ids])
    return ids, labels, label_targets(labels, len(dataset.classes)), [[int(c)] for c in labels]


def default_loss() -> LossConfig:
    return LossConfig(alpha=0.5)


def toy_trainer(
    dataset: FeatureDataset,
    run_dir: Path,
    *,
    stream: str = "rgb",
    model_config: ModelConfig | None = None,
    seed: int = 0,
    checkpoint_every: int = 3,
    log_every: int = 2,
    **train_overrides: object,
) -> Trainer:
    """A quiet trainer of the tiny model on the dataset's ground-truth labels (``train_overrides``: TrainConfig)."""
    ids, _, targets, groups = gt_labels(dataset)
    return Trainer(
        dataset,
        ids,
        targets,
        groups,
        stream=stream,
        model_config=model_config or tiny_model_config(),
        loss_config=default_loss(),
        train_config=tiny_train_config(**train_overrides),
        run_dir=run_dir,
        seed=seed,
        progress=False,
        checkpoint_every=checkpoint_every,
        log_every=log_every,
    )
