"""Validation splits of the training videos, for choosing hyperparameters without touching the test videos.

``make_validation_split(DIR, OUT)`` writes a dataset view whose train subset is most of DIR's training videos
("fit") and whose test subset is the rest ("val"). Feature folders are symlinked, not copied. Tuning runs use
OUT; the test subset of DIR is not in OUT at all, so it cannot leak into a choice.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from cotal.data.dataset import STREAMS, FeatureDataset
from cotal.errors import DataError
from cotal.utils.io import write_json
from cotal.utils.outdir import check_target, staged_folder

FIT, VAL = "fit", "val"


def make_validation_split(
    root: str | os.PathLike, out: str | os.PathLike, *, fraction: float = 0.2, seed: int = 0
) -> Path:
    """Split the training videos of ``root`` into "fit" and "val" subsets in a new dataset folder ``out``.

    The split is stratified by each video's first label when labels exist (so every class appears in both
    parts); labels only shape the split and are never given to unsupervised training.

    Args:
        root: a native-layout dataset.
        out: new folder (must not exist or be empty).
        fraction: share of the training videos held out as "val".
        seed: split seed.
    Returns:
        ``out``.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be in (0, 1), got {fraction}")
    ds = FeatureDataset(root)
    out = Path(out)
    check_target(out, "dataset", inputs=[root])
    ids = ds.train_ids
    strata: dict[str, list[str]] = defaultdict(list)
    for vid in ids:
        labels = ds.annotation(vid).video_labels
        strata[labels[0] if labels else ""].append(vid)
    rng = np.random.default_rng(seed)
    val: set[str] = set()
    for key in sorted(strata):
        members = strata[key]
        take = int(round(fraction * len(members)))
        val.update(rng.permutation(members)[:take].tolist())
    if not val or len(val) == len(ids):
        raise DataError(f"{root}: {len(ids)} training videos are too few for a {fraction:.0%} validation split")
    db = ds.annotations.to_json()
    db["database"] = {vid: {**db["database"][vid], "subset": VAL if vid in val else FIT} for vid in ids}
    with staged_folder(out, "dataset") as tmp:  # all or nothing
        write_json(tmp / "annotations.json", db)
        dataclasses.replace(ds.meta, train_subset=FIT, test_subset=VAL, name=f"{ds.meta.name}-val").save(
            tmp / "dataset.yaml"
        )
        for stream in STREAMS:
            if (ds.root / stream).is_dir():
                os.symlink((ds.root / stream).resolve(), tmp / stream, target_is_directory=True)
    return out
