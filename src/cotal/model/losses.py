"""Losses of the co-attention model (docs/method.md §6, eqs. 12-18): L = L_cls + alpha * L_trip + beta * L_abs.

Every term is computed for a whole padded batch at once. Notation: B videos, T padded snippets, C classes,
E / E' channels of X_cs / X_ca; ``groups`` (B,) holds the cluster (or class) each video was sampled for in the
Z x K part of the batch and -1 for the uniform fill videos, which feed only L_cls.

Normalisation (``reduction``):
    "mean" (default): L_cls is the mean over videos; L_abs the mean over clusters with >= 2 videos of the
        cluster's loss divided by its number of ordered pairs K_z (K_z - 1); L_trip the mean over anchors that
        have a positive and a negative. Loss scales do not depend on the batch size, so the learning rate does
        not either. For K = 2 the L_abs value equals the authors' code (their sep_loss averages over pairs and
        halves the two intra terms); their L_cls is summed over the batch instead (32x larger gradients).
    "sum": the paper's formulas verbatim, summed over videos / ordered pairs / anchors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cotal.errors import ConfigError, DataError
from cotal.model.coattention import CoAttentionOutput
from cotal.model.config import LossConfig
from cotal.model.ops import cosine_distance, cosine_distance_matrix, masked_softmax

# The authors' constants (docs/method.md §6): L_intra's weight inside L_abs, L_inter's and L_intra's margins,
# and L_trip's margin.
THETA, TAU1, TAU2, MARGIN = 1.0, 0.001, 0.5, 0.5


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return values.sum()
    return values.mean() if values.numel() else values.sum()


def classification_loss(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """L_cls = - sum_n sum_i y_ni log softmax(p_n)_i, docs/method.md eq. (13) (summed, or averaged over B videos).

    Args:
        logits: p (B,C) video logits.
        targets: y (B,C) target distributions (rows sum to 1; a multi-label video splits its mass evenly).
    """
    if targets.shape != logits.shape:
        raise DataError(f"targets have shape {tuple(targets.shape)}, expected {tuple(logits.shape)}")
    per_video = -(targets.to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum(-1)
    return _reduce(per_video, reduction)


def action_background_features(cas: Tensor, x_cs: Tensor, mask: Tensor, columns: Tensor) -> tuple[Tensor, Tensor]:
    """Action and background features J_k, B_k of each video for one class column (docs/method.md eq. 14).

    ``A_hat_k = softmax over valid time of A_k[:, z_k]``, ``J_k = X_cs,k^T A_hat_k`` and
    ``B_k = X_cs,k^T (1 - A_hat_k) / max(T_k - 1, 1)`` (padding excluded).

    Args:
        cas: A (N,T,C); x_cs: (N,T,E); mask: (N,T) bool; columns: z (N,) long class column of each video.

    Returns:
        J (N,E), B (N,E).
    """
    col = torch.gather(cas, 2, columns.view(-1, 1, 1).expand(-1, cas.shape[1], 1)).squeeze(2)  # (N,T)
    a_hat = masked_softmax(col, mask, dim=1)
    lengths = mask.sum(1, keepdim=True).to(x_cs.dtype)
    j = torch.einsum("nte,nt->ne", x_cs, a_hat)
    b = torch.einsum("nte,nt->ne", x_cs, (1.0 - a_hat) * mask) / (lengths - 1.0).clamp_min(1.0)
    return j, b


def _same_group_pairs(groups: Tensor) -> Tensor:
    """(N,N) bool: m != n and both sampled for the same group."""
    same = groups.unsqueeze(0) == groups.unsqueeze(1)
    return same & ~torch.eye(len(groups), dtype=torch.bool, device=groups.device)


def abs_loss(
    j: Tensor,
    b: Tensor,
    groups: Tensor,
    *,
    theta: float = THETA,
    tau1: float = TAU1,
    tau2: float = TAU2,
    reduction: str = "mean",
) -> Tensor:
    """Action/background separation ``L_abs = sum_z (L_inter,z + theta * L_intra,z)`` (docs/method.md eqs. 15-17).

    ``L_inter,z = sum_m sum_{n != m} max(d(J_m, J_n) - tau1, 0)`` and
    ``L_intra,z = sum_m sum_{n != m} max(d(J_m, J_n) - d(J_m, B_m) + tau2, 0)`` over the videos m, n of cluster
    z, with d the cosine distance. A cluster with one video has no pair and contributes nothing. With
    reduction="mean" each cluster's sum is divided by K_z (K_z - 1) and clusters are averaged.

    Args:
        j: J (N,E) and b: B (N,E) from :func:`action_background_features`; groups: (N,) cluster ids.
    """
    pairs = _same_group_pairs(groups)
    if not bool(pairs.any()):
        return j.sum() * 0.0
    d_jj = cosine_distance_matrix(j, j)  # (N,N)
    d_jb = cosine_distance(j, b)  # (N,)
    inter = F.relu(d_jj - tau1)
    intra = F.relu(d_jj - d_jb.unsqueeze(1) + tau2)
    per_pair = (inter + theta * intra) * pairs
    if reduction == "sum":
        return per_pair.sum()
    size = pairs.sum(1).to(j.dtype) + 1.0  # K_z of each video's cluster
    row_weight = torch.where(size > 1, 1.0 / (size * (size - 1.0)), torch.zeros_like(size))
    num_clusters = torch.where(size > 1, 1.0 / size, torch.zeros_like(size)).sum()
    return (per_pair.sum(1) * row_weight).sum() / num_clusters


def class_agnostic_features(x_ca: Tensor, attention: Tensor) -> Tensor:
    """H = X_ca^T S (docs/method.md §6, before eq. 18): x_ca (N,T,E'), attention S (N,T) (0 on padding) -> (N,E')."""
    return torch.einsum("nte,nt->ne", x_ca, attention)


def triplet_loss(h: Tensor, groups: Tensor, *, margin: float = MARGIN, reduction: str = "mean") -> Tensor:
    """``L_trip = sum_z sum_a max(d(H_a, H_p) - d(H_a, H_n) + m, 0)`` (docs/method.md eq. 18), hard mining in the batch.

    For anchor a: p = the farthest other video sampled for a's cluster, n = the closest video sampled for
    another cluster (fill videos, group -1, are never passed here). Anchors without a positive or a negative
    are skipped; reduction="mean" averages over the remaining anchors.

    Args:
        h: H (N,E') class-agnostic video features; groups: (N,) cluster ids.
    """
    pos_mask = _same_group_pairs(groups)
    neg_mask = groups.unsqueeze(0) != groups.unsqueeze(1)
    valid = pos_mask.any(1) & neg_mask.any(1)
    if not bool(valid.any()):
        return h.sum() * 0.0
    dist = cosine_distance_matrix(h, h)
    hardest_pos = dist.masked_fill(~pos_mask, float("-inf")).max(dim=1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values
    per_anchor = F.relu(hardest_pos[valid] - hardest_neg[valid] + margin)
    return _reduce(per_anchor, reduction)


class CoAttentionLoss(nn.Module):
    """``L = L_cls + alpha * L_trip + beta * L_abs`` (docs/method.md eq. 12) on a padded batch (see the module
    docstring)."""

    def __init__(self, config: LossConfig | None = None, **kwargs: object) -> None:
        """Build from ``config`` or from LossConfig keyword arguments (not both)."""
        super().__init__()
        if config is None:
            config = LossConfig.from_dict(kwargs)
        elif kwargs:
            raise ConfigError(f"CoAttentionLoss: pass a LossConfig or keyword arguments, not both ({sorted(kwargs)})")
        self.config = config

    def forward(
        self, out: CoAttentionOutput, mask: Tensor, targets: Tensor, groups: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its detached terms {"cls", "abs", "trip", "total"}.

        Args:
            out: model outputs for the batch (B videos).
            mask: (B,T) bool, True on valid snippets.
            targets: (B,C) target distributions for L_cls.
            groups: (B,) long, the cluster each video was sampled for, -1 for fill videos.
        """
        cfg = self.config
        num_videos, num_classes = out.logits.shape
        if groups.shape != (num_videos,):
            raise DataError(f"groups has shape {tuple(groups.shape)}, expected ({num_videos},)")
        groups = groups.to(device=out.logits.device, dtype=torch.long)
        if bool((groups >= num_classes).any()):
            raise DataError(f"groups holds a cluster id >= num_classes ({num_classes}): {groups.max().item()}")
        mask = mask.to(device=out.logits.device, dtype=torch.bool)
        l_cls = classification_loss(out.logits, targets, cfg.reduction)
        sel = torch.nonzero(groups >= 0).squeeze(1)
        g = groups[sel]
        # index_select, not x[sel]: its backward is an index_add instead of a serial accumulating index_put.
        rows = {name: getattr(out, name).index_select(0, sel) for name in ("cas", "x_cs", "x_ca", "attention")}
        j, b = action_background_features(rows["cas"], rows["x_cs"], mask[sel], g)
        l_abs = abs_loss(j, b, g, reduction=cfg.reduction)
        h = class_agnostic_features(rows["x_ca"], rows["attention"])
        l_trip = triplet_loss(h, g, reduction=cfg.reduction)
        total = l_cls + cfg.alpha * l_trip + cfg.beta * l_abs
        terms = {"cls": l_cls, "abs": l_abs, "trip": l_trip, "total": total}
        return total, {k: v.detach() for k, v in terms.items()}
