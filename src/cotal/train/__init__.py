"""Training of the co-attention model: batching, sampling, the (distributed) training loop and output export.

Train with ``Trainer(...).fit()``; the model file it writes loads with :func:`cotal.model.load_model`.

Names load on first use (PEP 562), so that importing a light submodule such as ``cotal.train.config`` does not
pull in PyTorch or SciPy.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "ClusterBatchSampler": "cotal.train.sampler",
    "Trainer": "cotal.train.trainer",
    "TrainConfig": "cotal.train.config",
    "collate": "cotal.train.batching",
    "crop_indices": "cotal.train.batching",
    "export_outputs": "cotal.train.export",
    "label_targets": "cotal.train.sampler",
    "load_outputs": "cotal.train.export",
    "save_outputs": "cotal.train.export",
}

__all__ = [
    "ClusterBatchSampler",
    "TrainConfig",
    "Trainer",
    "collate",
    "crop_indices",
    "export_outputs",
    "label_targets",
    "load_outputs",
    "save_outputs",
]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
