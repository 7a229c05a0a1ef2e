"""Run directories: everything needed to trace a result back to the exact command.

A run directory holds ``config.yaml`` (resolved), ``run.json`` (command line, seed, versions, host,
start time), ``log.txt`` and whatever the job writes (metrics, models, detections).
"""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from cotal import __version__
from cotal.errors import DataError
from cotal.utils.io import read_json, write_json, write_yaml

LOGGER_NAME = "cotal"
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


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


class RunDir:
    """A run directory.

    Args:
        path: folder (created).
        rank: distributed rank; only rank 0 writes files and logs to the console.
    """

    def __init__(self, path: str | Path, rank: int = 0) -> None:
        self.path = Path(path)
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
        write_yaml(self.path / "config.yaml", config)
        previous = read_json(self.path / "run.json") if (self.path / "run.json").exists() else {}
        runs = previous.get("invocations", []) if isinstance(previous, dict) else None
        if not isinstance(runs, list):
            raise DataError(f"{self.path / 'run.json'}: malformed; 'invocations' must be a list")
        runs.append(
            {"argv": list(argv if argv is not None else sys.argv), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        )
        write_json(
            self.path / "run.json",
            {
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
        target = str((self.path / "log.txt").resolve())
        if not any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
            fh = logging.FileHandler(target)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(fh)

    def detach_log(self) -> None:
        """Close and remove this run's ``log.txt`` handler."""
        target = str((self.path / "log.txt").resolve())
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
