"""The training log: ``run_dir/train_log.csv`` (and TensorBoard scalars when the package is installed).

One row every ``log_every`` steps: step, epoch, learning rate, the means of the loss terms since the previous row
and the throughput. The sums behind those means travel in the checkpoint (:meth:`TrainLog.state`), so a resumed
log equals an uninterrupted one. Named ``log`` rather than ``logging`` so as not to shadow the standard library.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cotal.utils.io import atomic_open

LOG_CSV = "train_log.csv"


class TrainLog:
    """Rows of the CSV log and the loss sums since the last row; only the ``writer`` process writes files."""

    def __init__(self, run_dir: Path, *, writer: bool) -> None:
        self.run_dir = run_dir
        self.writer = writer
        self.rows: list[dict[str, float]] = []
        self.sums: dict[str, float] = {}
        self.count = 0
        self.tensorboard: Any = None

    def add(self, terms: Mapping[str, float]) -> None:
        """Accumulate one step's loss terms."""
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def add_row(self, step: int, epoch: float, lr: float, snippets_per_s: float) -> None:
        """Append the means of the loss terms since the last row; the writer rewrites the CSV (and TensorBoard)."""
        row = {"step": step, "epoch": epoch, "lr": lr}
        row |= {k: v / self.count for k, v in self.sums.items()}
        row["snippets_per_s"] = snippets_per_s
        self.rows.append(row)
        self.sums, self.count = {}, 0
        if self.writer:
            self.write()
            if self.tensorboard is not None:
                for k, v in row.items():
                    if k != "step":
                        self.tensorboard.add_scalar(f"train/{k}", v, step)

    def write(self) -> None:
        """Rewrite the CSV with every row so far (atomically)."""
        if not self.rows:
            return
        with atomic_open(self.run_dir / LOG_CSV, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)

    def state(self) -> dict[str, Any]:
        """The checkpoint fields of the log."""
        return {"log_sums": dict(self.sums), "log_count": self.count}

    def restore(self, state: Mapping[str, Any], step: int) -> None:
        """Resume from a checkpoint's fields at ``step``: its sums, and the CSV rows up to that step."""
        self.sums, self.count = dict(state["log_sums"]), int(state["log_count"])
        self.rows = [row for row in _read_log(self.run_dir / LOG_CSV) if row["step"] <= step]

    def open_tensorboard(self) -> None:
        """Start TensorBoard scalars in run_dir/tensorboard (writer only, when the optional package is installed)."""
        if self.writer:
            self.tensorboard = _tensorboard_writer(self.run_dir)

    def close_tensorboard(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


def _read_log(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    return [
        {k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))
    ]


def _tensorboard_writer(run_dir: Path) -> Any:
    """A TensorBoard SummaryWriter in run_dir/tensorboard when the optional package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
