"""Greedy ActivityNet matching and interpolated AP, for all classes, videos and thresholds at once.

Implementation: all (prediction, ground truth) pairs of the same class and video with tIoU >= the smallest
threshold are built at once; greedy matching then advances one prediction per (class, video) group per step for
all groups and thresholds together, so the Python loop runs only as many times as the largest number of
overlapping predictions in one (class, video) group.
"""

from __future__ import annotations

import numpy as np

from cotal.evaluate.instances import pair_indices
from cotal.evaluate.tiou import temporal_iou

# Prediction/ground-truth pairs whose tIoU is computed at once: bounds the temporary memory on huge inputs.
_PAIR_CHUNK = 1 << 18


def greedy_match(
    pred_key: np.ndarray, pred_seg: np.ndarray, gt_key: np.ndarray, gt_seg: np.ndarray, thr: np.ndarray
) -> np.ndarray:
    """Greedy ActivityNet matching for all groups and thresholds at once.

    Args:
        pred_key: (N,) group (class, video) key of each prediction; predictions are in processing order.
        pred_seg: (N, 2) prediction segments.
        gt_key: (M,) group key of each ground-truth instance, ascending (annotation order within a group).
        gt_seg: (M, 2) ground-truth segments.
        thr: (K,) tIoU thresholds.
    Returns:
        (K, N) bool: prediction n is a true positive at threshold k.
    """
    K, N = len(thr), len(pred_key)
    tp = np.zeros((K, N), dtype=bool)
    ip, ig = pair_indices(pred_key, gt_key)
    tiou = np.empty(len(ip))
    for a in range(0, len(ip), _PAIR_CHUNK):  # chunks: no (pairs, 2) copies of both segment arrays at once
        tiou[a : a + _PAIR_CHUNK] = temporal_iou(
            pred_seg[ip[a : a + _PAIR_CHUNK]], gt_seg[ig[a : a + _PAIR_CHUNK]], pairwise=False
        )
    keep = tiou >= thr.min()
    if not keep.all():  # one array at a time: each old one is freed before the next copy
        ip = ip[keep]
        ig = ig[keep]
        tiou = tiou[keep]
    if ip.size == 0:
        return tp
    # Rank of each prediction among the predictions of its group that have candidate pairs (processing order).
    cand = ip[np.r_[True, ip[1:] != ip[:-1]]]  # ip is ascending
    by_group = cand[np.argsort(pred_key[cand], kind="stable")]
    gkeys = pred_key[by_group]
    first = np.r_[0, np.flatnonzero(gkeys[1:] != gkeys[:-1]) + 1]
    rank = np.empty(N, dtype=np.int64)
    rank[by_group] = np.arange(len(by_group)) - np.repeat(first, np.diff(np.r_[first, len(gkeys)]))
    # Step r handles the r-th prediction of every group; pairs stay ordered by prediction, then ground-truth index
    # (a stable sort of the ascending (ip, ig) order).
    erank = rank[ip]
    order = np.argsort(erank.astype(np.int16) if erank.max() < 2**15 else erank, kind="stable")
    ip = ip[order]
    ig = ig[order]
    tiou = tiou[order]
    erank = erank[order]
    bounds = np.searchsorted(erank, np.arange(erank[-1] + 2))
    locked = np.zeros((K, len(gt_key)), dtype=bool)
    for r in range(len(bounds) - 1):
        a, b = bounds[r], bounds[r + 1]
        p, g, t = ip[a:b], ig[a:b], tiou[a:b]
        valid = (t[None, :] >= thr[:, None]) & ~locked[:, g]
        # Best unlocked pair per (threshold, prediction): the largest tIoU, the earliest ground truth on ties.
        starts = np.r_[0, np.flatnonzero(p[1:] != p[:-1]) + 1]
        masked = np.where(valid, t[None, :], -1.0)
        best = np.maximum.reduceat(masked, starts, axis=1)
        best = np.repeat(best, np.diff(np.r_[starts, len(p)]), axis=1)
        kk, ee = np.nonzero(valid & (masked == best))  # row-major: by threshold, then pair
        if kk.size == 0:
            continue
        pe = p[ee]
        head = np.r_[True, (kk[1:] != kk[:-1]) | (pe[1:] != pe[:-1])]
        kk, ee = kk[head], ee[head]
        tp[kk, p[ee]] = True
        locked[kk, g[ee]] = True
    return tp


def _interpolated_ap(tp: np.ndarray, counted: np.ndarray, npos: int) -> np.ndarray:
    """VOC-2011 all-point interpolated AP of one class.

    Args:
        tp: (K, n) bool true positives, predictions in processing order.
        counted: (K, n) bool; False for predictions ignored at that threshold (neither TP nor FP).
        npos: number of ground-truth instances (> 0).
    Returns:
        (K,) AP = sum over true positives of max precision at or after it, divided by npos.
    """
    tpc = np.cumsum(tp, axis=1)
    seen = np.cumsum(counted, axis=1)
    prec = np.divide(tpc, seen, out=np.zeros(tp.shape), where=seen > 0)
    prec = np.maximum.accumulate(prec[:, ::-1], axis=1)[:, ::-1]
    return (prec * tp).sum(axis=1) / npos


def average_precision(tp: np.ndarray, counted: np.ndarray, cls: np.ndarray, num_gt: np.ndarray) -> np.ndarray:
    """(C, K) AP per class and threshold; 0 for a class without predictions.

    Args:
        tp: (K, N) bool true positives; ``counted`` (K, N) bool, False where a prediction is ignored.
        cls: (N,) ascending class index of each prediction (processing order).
        num_gt: (C,) ground-truth instances per class (all > 0).
    """
    C = len(num_gt)
    ap = np.zeros((C, tp.shape[0]))
    bounds = np.searchsorted(cls, np.arange(C + 1))
    for c in range(C):
        a, b = bounds[c], bounds[c + 1]
        if b > a:
            ap[c] = _interpolated_ap(tp[:, a:b], counted[:, a:b], int(num_gt[c]))
    return ap
