"""DistributedDataParallel: two gloo processes on CPU train the same model as one process."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cotal.data import FeatureDataset
from cotal.errors import ConfigError
from cotal.model import CoAttentionModel
from cotal.train.checkpoint import CHECKPOINT
from cotal.train.distributed import DistInfo, dist_info, setup_distributed
from cotal.train.log import LOG_CSV
from cotal.train.trainer import FINAL_MODEL
from tests.train.train_helpers import tiny_model_config, toy_trainer

HERE = Path(__file__).parent


def test_two_processes_match_a_single_process(toy_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "weights"
    out.mkdir()
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(HERE / "ddp_worker.py"), str(toy_dataset), str(tmp_path / "ddp_run"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    for name in (CHECKPOINT, FINAL_MODEL, LOG_CSV):
        assert (tmp_path / "ddp_run" / name).is_file()

    # The global batch, crops and loss are the same as in one process: only float summation order differs.
    single = (
        toy_trainer(FeatureDataset(toy_dataset), tmp_path / "single", model_config=tiny_model_config(dropout=0.0))
        .fit()
        .state_dict()
    )
    for key in single:
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-5, msg=key)
    torch.manual_seed(0)  # the trainer's initial weights (seed 0): training must have moved them
    initial = CoAttentionModel(8, 3, tiny_model_config(dropout=0.0)).state_dict()
    assert max(float((initial[k] - rank0[k]).abs().max()) for k in initial) > 1e-3
    with open(tmp_path / "ddp_run" / LOG_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8] and all(math.isfinite(float(r["total"])) for r in rows)


def test_dist_info_without_torchrun_is_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist_info() == DistInfo(rank=0, world_size=1, local_rank=0)
    info = setup_distributed(use_cuda=False)
    assert not info.enabled and info.is_main and not torch.distributed.is_initialized()


def test_inconsistent_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ConfigError, match="inconsistent"):
        dist_info()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="RANK"):
        dist_info()
