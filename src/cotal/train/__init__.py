"""Training of the co-attention model: batching, sampling, the (distributed) trainer and output export."""

from cotal.train.batching import collate, crop_indices, crop_sequence
from cotal.train.export import export_outputs, load_outputs, save_outputs
from cotal.train.sampler import ClusterBatchSampler, label_targets
from cotal.train.trainer import TrainConfig, Trainer, load_model, save_model, train_model

__all__ = [
    "ClusterBatchSampler",
    "TrainConfig",
    "Trainer",
    "collate",
    "crop_indices",
    "crop_sequence",
    "export_outputs",
    "label_targets",
    "load_model",
    "load_outputs",
    "save_model",
    "save_outputs",
    "train_model",
]
