"""Loss terms checked by hand on tiny cases (cosines of 2-d vectors), and their edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from cotal.errors import ConfigError, DataError
from cotal.model import CoAttentionLoss, CoAttentionOutput, LossConfig
from cotal.model.losses import THETA


def _output(x_cs: torch.Tensor, cas: torch.Tensor, x_ca: torch.Tensor, logits: torch.Tensor) -> CoAttentionOutput:
    attention = torch.full(x_ca.shape[:2], 1.0 / x_ca.shape[1])
    return CoAttentionOutput(cas=cas, attention=attention, x_cs=x_cs, x_ca=x_ca, logits=logits)


def test_classification_loss_by_hand() -> None:
    # p = [0, ln 3] -> softmax [1/4, 3/4]; target [1/2, 1/2] -> L = -(ln(1/4) + ln(3/4)) / 2
    out = _output(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), torch.ones(1, 1, 2), torch.tensor([[0.0, math.log(3)]]))
    _, terms = CoAttentionLoss()(
        out, torch.ones(1, 1, dtype=torch.bool), torch.tensor([[0.5, 0.5]]), torch.tensor([-1])
    )
    assert terms["cls"].item() == pytest.approx(-(math.log(0.25) + math.log(0.75)) / 2)
    assert terms["abs"].item() == 0 and terms["trip"].item() == 0


def _abs_case() -> tuple[CoAttentionOutput, torch.Tensor]:
    # Two videos of cluster 1, T = 2, equal class-1 logits -> A_hat = [1/2, 1/2].
    # Video 0: X_cs = [[1,0],[0,1]] -> J = B = [1/2, 1/2].  Video 1: X_cs = [[1,0],[1,0]] -> J = B = [1, 0].
    x_cs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
    cas = torch.tensor([[[5.0, 0.3], [-1.0, 0.3]], [[2.0, -0.7], [0.0, -0.7]]])  # column 0 is ignored
    x_ca = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]).expand(2, 2, 2)
    return _output(x_cs, cas, x_ca, torch.zeros(2, 2)), torch.ones(2, 2, dtype=torch.bool)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_action_background_loss_by_hand(reduction: str) -> None:
    out, mask = _abs_case()
    d_j = 1 - 1 / math.sqrt(2)  # d(J_0, J_1); d(J_m, B_m) = 0
    inter = 2 * (d_j - 0.001)  # two ordered pairs
    intra = 2 * (d_j - 0 + 0.5)
    expected = inter + THETA * intra  # the authors' weight of L_intra, 1
    if reduction == "mean":
        expected /= 2  # K (K - 1) ordered pairs of the one cluster
    loss = CoAttentionLoss(reduction=reduction)
    total, terms = loss(out, mask, torch.tensor([[0.5, 0.5]] * 2), torch.tensor([1, 1]))
    assert terms["abs"].item() == pytest.approx(expected)
    assert total.item() == pytest.approx(terms["cls"].item() + expected)


def test_triplet_loss_by_hand() -> None:
    # H (T = 1, S = 1): cluster 0 = {[1,0], [0,1]}, cluster 1 = {[1,1]} (no positive: not an anchor).
    h = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]])
    out = _output(h, torch.zeros(3, 1, 2), h, torch.zeros(3, 2))
    mask = torch.ones(3, 1, dtype=torch.bool)
    per_anchor = 1.0 - (1 - 1 / math.sqrt(2)) + 0.5  # d(pos) = 1, d(neg) = 1 - cos 45deg, margin 0.5
    targets = torch.tensor([[1.0, 0.0]] * 3)
    _, mean_terms = CoAttentionLoss(alpha=2.0)(out, mask, targets, torch.tensor([0, 0, 1]))
    _, sum_terms = CoAttentionLoss(alpha=2.0, reduction="sum")(out, mask, targets, torch.tensor([0, 0, 1]))
    assert mean_terms["trip"].item() == pytest.approx(per_anchor)
    assert sum_terms["trip"].item() == pytest.approx(2 * per_anchor)
    assert mean_terms["total"].item() == pytest.approx(
        mean_terms["cls"].item() + 2 * per_anchor + mean_terms["abs"].item()
    )


def test_singleton_and_fill_groups_contribute_nothing_and_keep_gradients_finite() -> None:
    out, mask = _abs_case()
    cas = out.cas.clone().requires_grad_(True)
    out.cas = cas
    total, terms = CoAttentionLoss(alpha=1.0)(out, mask, torch.tensor([[0.5, 0.5]] * 2), torch.tensor([1, -1]))
    assert terms["abs"].item() == 0 and terms["trip"].item() == 0
    total.backward()
    assert torch.isfinite(cas.grad).all()


def test_bad_groups_and_config_raise() -> None:
    out, mask = _abs_case()
    with pytest.raises(DataError, match="num_classes"):
        CoAttentionLoss()(out, mask, torch.tensor([[0.5, 0.5]] * 2), torch.tensor([2, 2]))
    with pytest.raises(DataError, match="groups"):
        CoAttentionLoss()(out, mask, torch.tensor([[0.5, 0.5]] * 2), torch.tensor([1]))
    with pytest.raises(ConfigError, match="reduction"):
        LossConfig(reduction="avg")
    with pytest.raises(ConfigError, match="beta"):
        CoAttentionLoss(beta=-1.0)
    with pytest.raises(ConfigError, match="unknown"):
        CoAttentionLoss(gamma=1.0)
