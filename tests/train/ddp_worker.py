"""Worker of the 2-process DDP test, run by ``torchrun``: trains on the toy set and saves its rank's weights.

Usage: ddp_worker.py DATASET RUN_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from cotal.data import FeatureDataset
from cotal.train.distributed import dist_info, teardown_distributed
from tests.train.train_helpers import tiny_model_config, toy_trainer


def main() -> None:
    dataset, run_dir, out_dir = (Path(a) for a in sys.argv[1:4])
    model = toy_trainer(FeatureDataset(dataset), run_dir, model_config=tiny_model_config(dropout=0.0)).fit()
    torch.save(model.state_dict(), out_dir / f"rank{dist_info().rank}.pt")
    teardown_distributed()


if __name__ == "__main__":
    main()
