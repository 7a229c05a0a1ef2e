"""``torchrun --nproc-per-node 2 -m cotal extract``: two gloo processes write the dataset one process writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from cotal.features.config import ExtractConfig
from tests.extras import skip_without_extra

skip_without_extra("extract")

from cotal.features.extract import extract_features  # noqa: E402


def _torchrun_extract(videos: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "cotal"]
    cmd += ["extract", str(videos), "--out", str(out), "--streams", "flow", "--size", "112", "--no-progress"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def test_two_processes_write_the_single_process_dataset_and_resume(tiny_videos: Path, tmp_path: Path) -> None:
    videos, out = tiny_videos / "videos", tmp_path / "ranks"
    proc = _torchrun_extract(videos, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = [line for line in proc.stdout.splitlines() if line.startswith("cotal extract:")]
    assert len(summaries) == 1 and "3 extracted, 0 already done, 0 failed" in summaries[0]  # rank 0 speaks

    single = tmp_path / "single"
    assert extract_features([videos], single, ExtractConfig(streams=("flow",), size=112, progress=False)).ok
    names = sorted(p.name for p in (single / "flow").iterdir())
    assert sorted(p.name for p in (out / "flow").iterdir()) == names and len(names) == 3
    for name in names:
        np.testing.assert_array_equal(np.load(out / "flow" / name), np.load(single / "flow" / name))
    for name in ("annotations.json", "extraction.yaml"):
        assert (out / name).read_text() == (single / name).read_text()
    assert (out / "dataset.yaml").read_text() == (single / "dataset.yaml").read_text()

    # A run killed before one video was recorded: the rerun extracts that video only, and lists all three.
    victim = names[1].removesuffix(".npy")
    (out / ".parts" / f"{victim}.json").unlink()
    (out / "annotations.json").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "flow").iterdir() if p.stem != victim}
    proc = _torchrun_extract(videos, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 extracted, 2 already done, 0 failed" in proc.stdout
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (out / "flow").iterdir() if p.stem != victim}
    assert sorted(json.loads((out / "annotations.json").read_text())["database"]) == [n[:-4] for n in names]
