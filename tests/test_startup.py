"""The command line starts without the heavy libraries and leaves OpenMP threads passive (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cotal.data.annotations import load_annotations
from cotal.evaluate import write_detections

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "scipy", "sklearn", "cv2")


def run_cli(args: list[str], env_extra: dict[str, str] | None = None) -> dict:
    """Run ``main(args)`` in a fresh interpreter; returns its exit code, heavy modules loaded, OMP policy."""
    script = (
        "import json, os, sys\n"
        "from cotal.cli.main import main\n"
        "try:\n"
        f"    rc = main({args!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        f"loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'rc': rc, 'loaded': loaded, 'omp': os.environ.get('OMP_WAIT_POLICY')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_library():
    result = run_cli(["--help"])
    assert result["rc"] == 0
    assert result["loaded"] == []


def test_each_command_help_imports_no_heavy_library():
    for command in ("demo", "extract", "synth", "data", "cluster", "fit", "detect", "eval"):
        result = run_cli([command, "--help"])
        assert result["rc"] == 0 and result["loaded"] == [], (command, result)


def test_eval_runs_without_torch(toy_dataset, tmp_path):
    ann = load_annotations(toy_dataset / "annotations.json")
    dets = {
        v: [
            {"segment": list(seg), "label": lab, "score": 0.9}
            for seg, lab in zip(ann[v].segments.tolist(), ann[v].labels, strict=True)
        ]
        for v in ann.ids("test")
    }
    path = tmp_path / "dets.json"
    write_detections(path, dets)
    result = run_cli(["eval", "--data", str(toy_dataset), "--detections", str(path)])
    assert result["rc"] == 0
    assert result["loaded"] == []  # no torch, and no SciPy either when no clusters are mapped


def test_openmp_wait_policy_passive_by_default_user_choice_kept():
    assert run_cli(["--help"])["omp"] == "PASSIVE"
    assert run_cli(["--help"], {"OMP_WAIT_POLICY": "ACTIVE"})["omp"] == "ACTIVE"
