"""The temporal co-attention localization model and its losses."""

from cotal.model.coattention import CoAttentionModel, CoAttentionOutput, ModelConfig, StreamModels
from cotal.model.losses import CoAttentionLoss, LossConfig

__all__ = ["CoAttentionLoss", "CoAttentionModel", "CoAttentionOutput", "LossConfig", "ModelConfig", "StreamModels"]
