"""The batched, padded, masked model + losses + gradients equal a one-video-at-a-time computation.

The reference below is written independently of the masking code: plain conv1d / matmul on one unpadded (T, D)
video at a time (like the authors' training loop) and the paper's loss formulas (docs/method.md eqs. 13-18) as
explicit Python loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from cotal.model import CoAttentionLoss, CoAttentionModel, LossConfig, ModelConfig
from cotal.model.losses import MARGIN, TAU1, TAU2, THETA
from cotal.train.batching import collate, forward_bucketed


def _conv(x: Tensor, conv: torch.nn.Conv1d) -> Tensor:
    return F.conv1d(x, conv.weight, conv.bias, padding=conv.padding, dilation=conv.dilation)


def reference_forward(model: CoAttentionModel, x: Tensor) -> dict[str, Tensor]:
    """Model outputs of one unpadded video x (T, D) in eval mode: cas (T,C), attention (T,), x_cs, x_ca, logits (C,)."""
    h = x.T.unsqueeze(0)  # (1,D,T)
    base = F.relu(_conv(h, model.base))
    fab = model.fab
    g = F.relu(_conv(base, fab.global_in))
    nl = fab.nonlocal_block
    q, k, v = (_conv(g, c)[0].T for c in (nl.theta, nl.phi, nl.g))  # (T,I)
    y = torch.softmax(q @ k.T, dim=-1) @ v
    glob = g + _conv(y.T.unsqueeze(0), nl.out)
    pyramid = torch.cat([F.relu(_conv(base, c)) for c in fab.pyramid], dim=1)
    branches = [glob, pyramid]
    if fab.temporal is not None:
        branches.append(F.relu(_conv(base, fab.temporal)))
    feats = torch.cat(branches, dim=1)
    if fab.fuse is not None:
        feats = F.relu(_conv(feats, fab.fuse))
    x_cs = feats[0].T
    x_ca = F.relu(_conv(base, model.att_branch))[0].T
    cas = x_cs @ model.cls_head.weight.T + model.cls_head.bias
    attention = torch.softmax((x_ca @ model.att_head.weight.T + model.att_head.bias)[:, 0], dim=0)
    logits = cas.T @ attention
    return {"cas": cas, "attention": attention, "x_cs": x_cs, "x_ca": x_ca, "logits": logits}


def _cos_dist(a: Tensor, b: Tensor) -> Tensor:
    return 1 - (a * b).sum() / (a.norm() * b.norm())


def reference_losses(
    outs: list[dict[str, Tensor]],
    targets: Tensor,
    groups: list[int],
    *,
    alpha: float,
    beta: float,
    theta: float,
    tau1: float,
    tau2: float,
    margin: float,
    reduction: str,
) -> dict[str, Tensor]:
    """The paper's formulas with explicit loops over videos, clusters, pairs and anchors."""
    cls_terms = [-(targets[n] * torch.log_softmax(o["logits"], dim=0)).sum() for n, o in enumerate(outs)]
    l_cls = torch.stack(cls_terms).sum() if reduction == "sum" else torch.stack(cls_terms).mean()

    feats = {}
    for n, o in enumerate(outs):
        if groups[n] < 0:
            continue
        a_hat = torch.softmax(o["cas"][:, groups[n]], dim=0)
        steps = o["cas"].shape[0]
        feats[n] = (o["x_cs"].T @ a_hat, o["x_cs"].T @ (1 - a_hat) / max(steps - 1, 1))
    cluster_terms = []
    for z in sorted({g for g in groups if g >= 0}):
        members = [n for n in feats if groups[n] == z]
        if len(members) < 2:
            continue
        total = 0.0
        for m in members:
            for n in members:
                if n == m:
                    continue
                d_mn = _cos_dist(feats[m][0], feats[n][0])
                inter = torch.clamp(d_mn - tau1, min=0)
                intra = torch.clamp(d_mn - _cos_dist(feats[m][0], feats[m][1]) + tau2, min=0)
                total = total + inter + theta * intra
        k = len(members)
        cluster_terms.append(total if reduction == "sum" else total / (k * (k - 1)))
    if cluster_terms:
        l_abs = torch.stack(cluster_terms).sum() if reduction == "sum" else torch.stack(cluster_terms).mean()
    else:
        l_abs = torch.zeros((), dtype=targets.dtype)

    h = {n: o["x_ca"].T @ o["attention"] for n, o in enumerate(outs) if groups[n] >= 0}
    anchor_terms = []
    for a in h:
        pos = [_cos_dist(h[a], h[p]) for p in h if p != a and groups[p] == groups[a]]
        neg = [_cos_dist(h[a], h[q]) for q in h if groups[q] != groups[a]]
        if not pos or not neg:
            continue
        hardest_pos = pos[max(range(len(pos)), key=lambda i: pos[i].item())]
        hardest_neg = neg[min(range(len(neg)), key=lambda i: neg[i].item())]
        anchor_terms.append(torch.clamp(hardest_pos - hardest_neg + margin, min=0))
    if anchor_terms:
        l_trip = torch.stack(anchor_terms).sum() if reduction == "sum" else torch.stack(anchor_terms).mean()
    else:
        l_trip = torch.zeros((), dtype=targets.dtype)
    total = l_cls + alpha * l_trip + beta * l_abs
    return {"cls": l_cls, "abs": l_abs, "trip": l_trip, "total": total}


IN_DIM, NUM_CLASSES = 12, 5
CONFIGS = {"code": ModelConfig(base_dim=16), "paper": ModelConfig(base_dim=16, fab="paper")}


def _model(config: ModelConfig, seed: int = 0) -> CoAttentionModel:
    torch.manual_seed(seed)
    model = CoAttentionModel(IN_DIM, NUM_CLASSES, config).double().eval()
    # The non-local output projection starts at zero; randomise it so its gradients are checked too.
    torch.nn.init.normal_(model.fab.nonlocal_block.out.weight, std=0.3)
    torch.nn.init.normal_(model.fab.nonlocal_block.out.bias, std=0.3)
    return model


def _videos(lengths: list[int], dim: int, seed: int = 0) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(t, dim, generator=gen, dtype=torch.float64) for t in lengths]


LENGTHS = [9, 23, 4, 17, 30, 1, 12, 23]
GROUPS = [0, 0, 3, 3, 3, 1, -1, -1]  # two pairs' worth of clusters, one cluster of 3, a singleton, fill


@pytest.mark.parametrize("variant", sorted(CONFIGS))
def test_batched_forward_equals_per_video(variant: str) -> None:
    config = CONFIGS[variant]
    model = _model(config)
    videos = _videos(LENGTHS, IN_DIM)
    x, mask = collate(videos, dtype=torch.float64)
    out = model(x, mask)
    for b, video in enumerate(videos):
        ref = reference_forward(model, video)
        t = video.shape[0]
        for name in ("cas", "attention", "x_cs", "x_ca"):
            got = getattr(out, name)[b]
            torch.testing.assert_close(got[:t], ref[name], atol=1e-10, rtol=1e-8)
            assert torch.all(got[t:] == 0), f"{name} is not zero on padding"
        torch.testing.assert_close(out.logits[b], ref["logits"], atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("bucketed", [False, True])
def test_batched_losses_and_gradients_equal_per_video(reduction: str, bucketed: bool) -> None:
    config = CONFIGS["code"]
    model = _model(config, seed=1)
    videos = _videos(LENGTHS, IN_DIM, seed=1)
    gen = torch.Generator().manual_seed(2)
    targets = torch.softmax(torch.randn(len(videos), NUM_CLASSES, generator=gen, dtype=torch.float64), -1)
    loss_cfg = LossConfig(alpha=0.7, beta=1.3, reduction=reduction)
    groups = torch.tensor(GROUPS)

    if bucketed:
        out, mask = forward_bucketed(model, videos, chunk_cost=4.0, dtype=torch.float64)
    else:
        out, mask = model(*collate(videos, dtype=torch.float64)), collate(videos, dtype=torch.float64)[1]
    total, terms = CoAttentionLoss(loss_cfg)(out, mask, targets, groups)
    model.zero_grad()
    total.backward()
    got_grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    model.zero_grad()
    constants = dict(theta=THETA, tau1=TAU1, tau2=TAU2, margin=MARGIN)
    ref = reference_losses(
        [reference_forward(model, v) for v in videos], targets, GROUPS, **vars(loss_cfg), **constants
    )
    ref["total"].backward()
    for name in ("cls", "abs", "trip", "total"):
        torch.testing.assert_close(terms[name], ref[name].detach(), atol=1e-5, rtol=0)
    assert terms["abs"] > 0 and terms["trip"] > 0  # every term is exercised
    for n, p in model.named_parameters():
        torch.testing.assert_close(got_grads[n], p.grad, atol=1e-5, rtol=0, msg=f"gradient of {n}")
    assert max(g.abs().max() for g in got_grads.values()) > 1e-3
