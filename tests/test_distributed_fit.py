"""`cotal fit` under torchrun: two gloo processes run the whole pipeline into one run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cotal.cli.main import main

# Enough training (4 epochs at a high learning rate) for round 0's S to pass the flat-attention guard, so that a
# second round runs.
ARGS = ["--clusters", "3", "--rounds", "2", "--epochs", "4", "--quiet", "--no-report"]
ARGS += ["--set", "train.batch_size=6", "train.lr=1e-2"]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, env.get("PYTHONPATH", "")])}


def test_fit_under_torchrun_matches_one_process(toy_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "cotal", "fit"]
    proc = subprocess.run(
        [*cmd, "--data", str(toy_dataset), "--out", str(run), *ARGS],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1  # only rank 0 prints the summary
    for name in ("clusters.json", "metrics.json", "final.json", "round_1/clusters.json"):
        assert (run / name).is_file(), name
    single = tmp_path / "single"
    proc = subprocess.run(
        [sys.executable, "-m", "cotal", "fit", "--data", str(toy_dataset), "--out", str(single), *ARGS],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("round_0/clusters.json", "round_1/clusters.json"):
        assert (run / name).read_text() == (single / name).read_text(), name


def test_overwrite_is_refused_under_torchrun(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    code = main(["fit", "--data", str(toy_dataset), "--out", str(tmp_path / "run"), "--overwrite", *ARGS])
    assert code != 0
    assert "--overwrite under torchrun" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
