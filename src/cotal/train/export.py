"""Run a trained model over full-length videos and store its per-video outputs.

The outputs feed detection (class activation sequences + video probabilities) and the next clustering
round (the class-agnostic attention of every training video). Archive format: one ``.npz`` (no pickle) with
keys ``"<video_id>/cas"`` (T,C), ``"<video_id>/attention"`` (T,) and ``"<video_id>/probs"`` (C,), float32.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from cotal.data import FeatureDataset
from cotal.errors import DataError
from cotal.model import OUTPUT_KEYS, CoAttentionModel
from cotal.train.batching import capped_buckets, collate
from cotal.utils.io import atomic_open


@torch.no_grad()
def export_outputs(
    model: CoAttentionModel | torch.nn.Module,
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    stream: str | tuple[str, ...],
    *,
    batch_size: int = 16,
    max_snippets: int = 200_000,
    device: torch.device | str | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Full-length outputs of ``model`` (eval mode) for each video, batched by similar length.

    Args:
        model: a trained model (a DistributedDataParallel wrapper is unwrapped).
        dataset: the features.
        video_ids: videos to run.
        stream: the input stream, or a tuple for a joint-input model (concatenated in that order).
        batch_size: most videos per forward pass.
        max_snippets: most padded snippets (videos x longest length) per forward pass, to bound memory;
            a longer video runs alone.
        device: where to run; default the model's device.

    Returns:
        ``{video_id: {"cas": (T,C) logits A, "attention": (T,) S summing to 1, "probs": (C,) softmax(p)}}``,
        float32 numpy arrays, in ``video_ids`` order.
    """
    net = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    streams = (stream,) if isinstance(stream, str) else tuple(stream)
    if batch_size < 1 or max_snippets < 1:
        raise DataError(f"export_outputs: batch_size ({batch_size}) and max_snippets ({max_snippets}) must be >= 1")
    ids = list(video_ids)
    if not ids:
        return {}
    device = torch.device(device) if device is not None else next(net.parameters()).device
    lengths = np.array([dataset.feature_shape(vid, streams[0])[0] for vid in ids], dtype=np.int64)
    was_training = net.training
    net.eval()
    results: dict[str, dict[str, np.ndarray]] = {}
    try:
        for bucket in capped_buckets(lengths, batch_size, max_snippets):
            feats = [_full_features(dataset, ids[i], streams) for i in bucket]
            x, mask = collate(feats, device=device)
            out = net(x, mask)
            cas = out.cas.float().cpu().numpy()
            att = out.attention.float().cpu().numpy()
            probs = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
            for row, i in enumerate(bucket):
                t = int(lengths[i])
                results[ids[i]] = {"cas": cas[row, :t].copy(), "attention": att[row, :t].copy(), "probs": probs[row]}
    finally:
        net.train(was_training)
    return {vid: results[vid] for vid in ids}


def _full_features(dataset: FeatureDataset, vid: str, streams: tuple[str, ...]) -> np.ndarray:
    if len(streams) == 1:  # a writable copy of the memory map (torch refuses read-only arrays)
        return np.array(dataset.features(vid, streams[0]), dtype=np.float32)
    return dataset.joint_features(vid, streams)


def save_outputs(path: str | os.PathLike, outputs: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``{video_id: {"cas", "attention", "probs"}}`` as one ``.npz`` atomically (float32, no pickle)."""
    arrays = {}
    for vid, out in outputs.items():
        missing = [k for k in OUTPUT_KEYS if k not in out]
        if missing:
            raise DataError(f"save_outputs: video {vid!r} lacks {', '.join(missing)}")
        for key in OUTPUT_KEYS:
            arrays[f"{vid}/{key}"] = np.asarray(out[key], dtype=np.float32)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_outputs(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read an archive written by :func:`save_outputs`; malformed files raise DataError naming the video."""
    raw: dict[str, dict[str, np.ndarray]] = {}
    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # np.load would guess "pickle" and say so
        raise DataError(f"{path}: not a readable outputs .npz (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                vid, sep, name = key.rpartition("/")
                if not sep or not vid or name not in OUTPUT_KEYS:
                    raise DataError(f"{path}: key {key!r} is not '<video_id>/<cas|attention|probs>'")
                raw.setdefault(vid, {})[name] = z[key]
    except FileNotFoundError:
        raise DataError(f"{path}: outputs file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable outputs .npz ({e})") from None
    for vid, out in raw.items():
        missing = [k for k in OUTPUT_KEYS if k not in out]
        if missing:
            raise DataError(f"{path}: video {vid!r} lacks {', '.join(missing)}")
        cas, att, probs = out["cas"], out["attention"], out["probs"]
        if cas.ndim != 2 or att.shape != (cas.shape[0],) or probs.shape != (cas.shape[1],):
            raise DataError(
                f"{path}: video {vid!r} has inconsistent shapes cas {cas.shape}, attention {att.shape}, "
                f"probs {probs.shape}"
            )
    return raw
