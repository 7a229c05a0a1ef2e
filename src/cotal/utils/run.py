"""Run directories: everything needed to trace a result back to the exact command.

A run directory holds ``config.yaml`` (resolved), ``run.json`` (command line, seed, versions, host,
start time), ``log.txt`` and whatever the job writes (metrics, models, detections). Where `cotal fit` puts
each file is :class:`RunLayout`'s business alone.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cotal import __version__
from cotal.errors import DataError
from cotal.utils.io import open_nofollow, read_json, write_json, write_yaml

LOGGER_NAME = "cotal"
MODEL_FILE = "model.pt"  # what cotal.train writes into a model's training folder
# The layout and file formats of a run folder; a run of another format is refused, never migrated.
RUN_FORMAT = 2
# Every file cotal.train writes into a model's training folder (the model, its checkpoint, the loss log).
MODEL_FOLDER_FILES = frozenset({MODEL_FILE, "checkpoint.pt", "train_log.csv"})
# Files of the whole run written outside RunLayout's properties: the data fingerprint (cotal.data.fingerprint).
RUN_DATA = "data.json"
_ROUND = re.compile(r"round_\d+")
_ROUND_FILE = re.compile(r"clusters\.json|clustering\.json|attention_train\.npz|outputs_(?:train|test)_[^/]+\.npz")
_PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "faiss-cpu", "av", "opencv-python-headless")


def environment_versions() -> dict[str, str]:
    """Versions of Python, cotal and the packages results depend on."""
    out = {"python": platform.python_version(), "cotal": __version__, "platform": platform.platform()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit(path: Path) -> str | None:
    """Commit of the source tree cotal runs from, with '+dirty' when it has local changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


@dataclass(frozen=True)
class RunLayout:
    """Where a `cotal fit` run keeps each file.

    Rounds are numbered from 0, as the log, ``metrics.json`` and the report number them: round r holds
    clustering r (round 0: the label-free pooling; round r > 0: pooled with round r-1's attention S) and the
    model(s) trained on it. Weak supervision trains its single model(s) in round 0.

    ::

        RUN/config.yaml, run.json, log.txt          the command (:class:`RunDir`)
        RUN/normalization.npz, round0_weights.npz   input statistics, round 0's snippet weights
        RUN/round_<r>/clusters.json, clustering.json
        RUN/round_<r>/model_<stream>/model.pt       one model per stream
        RUN/round_<r>/outputs_<split>_<stream>.npz  exported outputs (split: train or test)
        RUN/round_<r>/attention_train.npz           S of the training videos
        RUN/clusters.json, final.json, metrics.json, detections_test.json

    Args:
        root: the run folder.
    """

    root: Path

    # -- files of the whole run -------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def run_info(self) -> Path:
        return self.root / "run.json"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def normalization(self) -> Path:
        return self.root / "normalization.npz"

    @property
    def round0_weights(self) -> Path:
        return self.root / "round0_weights.npz"

    @property
    def choices(self) -> Path:
        """What the run chose from its unlabelled training videos (``cluster.center: auto``)."""
        return self.root / "choices.json"

    @property
    def clusters(self) -> Path:
        """The selected round's clusters (the labels of the final model's detections)."""
        return self.root / "clusters.json"

    @property
    def final(self) -> Path:
        return self.root / "final.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def detections_test(self) -> Path:
        return self.root / "detections_test.json"

    @property
    def report(self) -> Path:
        """Where `cotal report` writes by default."""
        return self.root / "report.html"

    # -- files of one round -----------------------------------------------------------------------
    def round_dir(self, r: int) -> Path:
        return self.root / f"round_{r}"

    def round_clusters(self, r: int) -> Path:
        return self.round_dir(r) / "clusters.json"

    def clustering_info(self, r: int) -> Path:
        """Label-free signals of round r's clustering (silhouette, per-video confidence)."""
        return self.round_dir(r) / "clustering.json"

    def model_dir(self, r: int, name: str) -> Path:
        """Training folder (checkpoint, train_log.csv, model.pt) of round r's model ``name``."""
        return self.round_dir(r) / f"model_{name}"

    def model_file(self, r: int, name: str) -> Path:
        return self.model_dir(r, name) / MODEL_FILE

    def outputs(self, r: int, split: str, name: str) -> Path:
        """Round r's model ``name`` run over the ``split`` ("train" or "test") videos."""
        return self.round_dir(r) / f"outputs_{split}_{name}.npz"

    def attention_train(self, r: int) -> Path:
        return self.round_dir(r) / "attention_train.npz"

    @staticmethod
    def outputs_beside(model_file: Path, split: str, name: str) -> Path:
        """The outputs file in the round folder of ``model_file`` (a path read from ``final.json``)."""
        return model_file.parent.parent / f"outputs_{split}_{name}.npz"

    def owns(self, relative: str) -> bool:
        """Whether the path ``relative`` (``round_0/model_rgb/model.pt``) is one `cotal fit` writes in a run."""
        parts = relative.split("/")
        if len(parts) == 1:
            names = (self.config, self.run_info, self.log, self.normalization, self.round0_weights, self.choices)
            names += (self.clusters,)
            names += (self.final, self.metrics, self.detections_test, self.report)
            return parts[0] in {p.name for p in names} | {RUN_DATA} or _ROUND.fullmatch(parts[0]) is not None
        if _ROUND.fullmatch(parts[0]) is None:
            return False
        if len(parts) == 2:
            return _ROUND_FILE.fullmatch(parts[1]) is not None or parts[1].startswith("model_")
        return len(parts) == 3 and parts[1].startswith("model_") and parts[2] in MODEL_FOLDER_FILES

    def train_logs(self) -> list[tuple[int, str, Path]]:
        """(round, model name, path) of every model's ``train_log.csv``, in round then name order."""
        found = []
        for path in self.root.glob("round_*/model_*/train_log.csv"):
            number, name = path.parent.parent.name.removeprefix("round_"), path.parent.name.removeprefix("model_")
            if number.isdigit():
                found.append((int(number), name, path))
        return sorted(found)


def check_run_format(root: str | os.PathLike) -> None:
    """Refuse a run folder written by a cotal of another run format (its ``run.json`` records the format)."""
    info = RunLayout(Path(root)).run_info
    if not info.is_file():
        return
    recorded = read_json(info)
    if not isinstance(recorded, dict):
        raise DataError(f"{info}: malformed (expected a JSON object)")
    found = recorded.get("run_format")
    if found != RUN_FORMAT:
        versions = recorded.get("versions")
        version = versions.get("cotal", "?") if isinstance(versions, dict) else "?"
        raise DataError(
            f"{info}: written by another cotal ({version}, run format {found or 1}; this cotal reads format "
            f"{RUN_FORMAT}); rerun it into a new folder or pass --overwrite"
        )


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


class _LogFile(logging.FileHandler):
    """A log file that is never a symbolic link (appending through one would write someone else's file)."""

    def _open(self) -> Any:
        fd = open_nofollow(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class RunDir:
    """A run directory.

    Args:
        path: folder (created).
        rank: distributed rank; only rank 0 writes files and logs to the console.
    """

    def __init__(self, path: str | Path, rank: int = 0) -> None:
        self.path = Path(path)
        self.layout = RunLayout(self.path)
        self.rank = rank
        if rank == 0:
            self.path.mkdir(parents=True, exist_ok=True)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(
        self, config: dict[str, Any], seed: int, argv: list[str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """Write ``config.yaml`` and ``run.json`` (seed, versions, command lines, ``extra``) and attach the log."""
        if not self.is_main:
            return
        write_yaml(self.layout.config, config)
        info = self.layout.run_info
        previous = read_json(info) if info.exists() else {}
        runs = previous.get("invocations", []) if isinstance(previous, dict) else None
        if not isinstance(runs, list):
            raise DataError(f"{info}: malformed; 'invocations' must be a list")
        runs.append(
            {"argv": list(argv if argv is not None else sys.argv), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        )
        write_json(
            info,
            {
                "run_format": RUN_FORMAT,
                "seed": seed,
                "versions": environment_versions(),
                "git_commit": git_commit(Path(__file__).resolve().parent),
                "host": platform.node(),
                "invocations": runs,  # a resumed run appends; the first entry is the original command
                **(extra or {}),
            },
        )
        self.attach_log()

    def attach_log(self) -> None:
        logger = get_logger()
        logger.setLevel(logging.INFO)
        target = os.path.abspath(self.layout.log)
        if not any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
            fh = _LogFile(target)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(fh)

    def detach_log(self) -> None:
        """Close and remove this run's ``log.txt`` handler."""
        target = os.path.abspath(self.layout.log)
        logger = get_logger()
        for h in [h for h in logger.handlers if getattr(h, "baseFilename", None) == target]:
            logger.removeHandler(h)
            h.close()


@contextmanager
def console_log(enabled: bool = True) -> Iterator[None]:
    """While the block runs, cotal's log lines (those of ``log.txt``) also go to stderr."""
    if not enabled:
        yield
        return
    logger = get_logger()
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def stage_timer(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]`` (seconds)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
