"""Run a trained model over full-length videos and store its per-video outputs.

The outputs feed detection (class activation sequences + video probabilities) and the next clustering
round (the class-agnostic attention of every training video). Archive format: one ``.npz`` (no pickle) with
keys ``"<video_id>/cas"`` (T,C), ``"<video_id>/attention"`` (T,) and ``"<video_id>/probs"`` (C,), float32: the
fields of :class:`cotal.model.outputs.VideoOutput`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from cotal.data import FeatureDataset
from cotal.errors import DataError
from cotal.model import CoAttentionModel
from cotal.model.outputs import OUTPUT_KEYS, VideoOutput
from cotal.train.batching import capped_buckets, collate
from cotal.utils.io import atomic_open


@torch.no_grad()
def export_outputs(
    model: CoAttentionModel | torch.nn.Module,
    dataset: FeatureDataset,
    video_ids: Sequence[str],
    stream: str,
    *,
    batch_size: int = 16,
    max_snippets: int = 200_000,
    device: torch.device | str | None = None,
) -> dict[str, VideoOutput]:
    """Full-length outputs of ``model`` (eval mode) for each video, batched by similar length.

    Args:
        model: a trained model (a DistributedDataParallel wrapper is unwrapped).
        dataset: the features.
        video_ids: videos to run.
        stream: the input stream.
        batch_size: most videos per forward pass.
        max_snippets: most padded snippets (videos x longest length) per forward pass, to bound memory;
            a longer video runs alone.
        device: where to run; default the model's device.

    Returns:
        ``{video_id: VideoOutput}`` (A (T, C), S (T,), softmax(p) (C,)) in ``video_ids`` order.
    """
    net = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    if batch_size < 1 or max_snippets < 1:
        raise DataError(f"export_outputs: batch_size ({batch_size}) and max_snippets ({max_snippets}) must be >= 1")
    ids = list(video_ids)
    if not ids:
        return {}
    device = torch.device(device) if device is not None else next(net.parameters()).device
    lengths = np.array([dataset.feature_shape(vid, stream)[0] for vid in ids], dtype=np.int64)
    was_training = net.training
    net.eval()
    results: dict[str, VideoOutput] = {}
    try:
        for bucket in capped_buckets(lengths, batch_size, max_snippets):
            # writable copies of the memory maps (torch refuses read-only arrays)
            feats = [np.array(dataset.features(ids[i], stream), dtype=np.float32) for i in bucket]
            x, mask = collate(feats, device=device)
            out = net(x, mask)
            cas = out.cas.float().cpu().numpy()
            att = out.attention.float().cpu().numpy()
            probs = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
            for row, i in enumerate(bucket):
                t = int(lengths[i])
                try:
                    results[ids[i]] = VideoOutput(cas[row, :t].copy(), att[row, :t].copy(), probs[row])
                except DataError as e:
                    raise DataError(f"{dataset.root}: video {ids[i]!r} ({stream}): {e}") from None
    finally:
        net.train(was_training)
    return {vid: results[vid] for vid in ids}


def save_outputs(path: str | os.PathLike, outputs: Mapping[str, VideoOutput]) -> None:
    """Write ``{video_id: VideoOutput}`` as one ``.npz`` atomically (float32, no pickle)."""
    arrays = {f"{vid}/{key}": value for vid, out in outputs.items() for key, value in out.arrays().items()}
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_outputs(path: str | os.PathLike) -> dict[str, VideoOutput]:
    """Read an archive written by :func:`save_outputs`; malformed files raise DataError naming the video."""
    raw: dict[str, dict[str, np.ndarray]] = {}
    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # np.load would guess "pickle" and say so
        raise DataError(f"{path}: not a readable outputs .npz (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                vid, sep, name = key.rpartition("/")
                if not sep or not vid or name not in OUTPUT_KEYS:
                    raise DataError(f"{path}: key {key!r} is not '<video_id>/<{'|'.join(OUTPUT_KEYS)}>'")
                raw.setdefault(vid, {})[name] = z[key]
    except FileNotFoundError:
        raise DataError(f"{path}: outputs file not found") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable outputs .npz ({e})") from None
    out = {}
    for vid, arrays in raw.items():
        missing = [k for k in OUTPUT_KEYS if k not in arrays]
        if missing:
            raise DataError(f"{path}: video {vid!r} lacks {', '.join(missing)}")
        try:
            out[vid] = VideoOutput(**arrays)
        except DataError as e:
            raise DataError(f"{path}: video {vid!r}: {e}") from None
    return out
