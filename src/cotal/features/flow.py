"""Optical flow (OpenCV) and the hand-crafted motion descriptor used when no flow network is available.

Flow fields are (H, W, 2) float32 displacements in pixels (x then y), from frame t-1 to frame t.
For a flow I3D they are clipped to [-20, 20] and divided by 20 (:func:`flow_to_network_input`), the
usual I3D practice. Without flow weights, :class:`FlowDescriptor` summarises a snippet of flow fields
with histograms of flow orientation (HOF), flow magnitude and motion boundaries (MBH) on a
space-time grid -- an honest stand-in, not a learned feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, get_args

import numpy as np

from cotal.errors import ConfigError
from cotal.features.config import FlowMethod
from cotal.utils.deps import require

cv2 = require("cv2", "optical flow")

FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)
FLOW_BOUND = 20.0


class FlowEstimator:
    """Dense optical flow between consecutive grayscale frames.

    Args:
        method: "dis" (OpenCV DIS, fast preset; default), "tvl1" (needs opencv-contrib's ``cv2.optflow``)
            or "farneback".
    """

    def __init__(self, method: str = "dis") -> None:
        if method not in FLOW_METHODS:
            raise ConfigError(f"unknown flow method {method!r}; expected one of {', '.join(FLOW_METHODS)}")
        self.method = method
        if method == "dis":
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        elif method == "tvl1":
            if not hasattr(cv2, "optflow"):
                raise ConfigError(
                    "flow method 'tvl1' needs OpenCV's contrib modules (cv2.optflow): install "
                    "opencv-contrib-python-headless instead of opencv-python-headless, or use --flow dis"
                )
            self._tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """(H, W) uint8 grayscale x 2 -> (H, W, 2) float32 flow in pixels."""
        if self.method == "dis":
            return self._dis.calc(prev, nxt, None)
        if self.method == "tvl1":
            return self._tvl1.calc(prev, nxt, None)
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def flow_to_network_input(flows: np.ndarray) -> np.ndarray:
    """Clip to [-20, 20] px and scale to [-1, 1] (I3D flow-stream convention). Any shape, last axis (x, y)."""
    return np.clip(flows, -FLOW_BOUND, FLOW_BOUND, dtype=np.float32) / FLOW_BOUND


@dataclass(frozen=True)
class FlowDescriptor:
    """Fixed-size motion descriptor of one snippet of flow fields.

    The snippet is split into ``grid x grid`` spatial cells and ``time_cells`` temporal cells. Each cell
    holds four histograms:

    - HOF: flow orientation in ``orientations`` bins weighted by magnitude, plus a "static" bin for pixels
      slower than ``static_threshold`` (weighted by that threshold, so a still scene fills it);
    - MAG: fraction of pixels in each magnitude bin (``magnitude_edges``);
    - MBHx / MBHy: orientation of the spatial gradient of the x / y flow component, weighted by the
      gradient magnitude (motion boundaries; insensitive to camera translation).

    HOF and MAG use the flow minus each frame's median flow, which cancels camera translation.
    Magnitudes are measured in pixels of a 224-px frame whatever the extraction size. Every histogram is
    L1-normalised and square-rooted (Hellinger), and the whole vector is L2-normalised.
    """

    VERSION: ClassVar[str] = "hof-mag-mbh-576-v2"  # recorded in extraction.yaml; change with the definition

    grid: int = 3
    time_cells: int = 2
    orientations: int = 8
    static_threshold: float = 0.5
    magnitude_edges: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

    @property
    def cell_dim(self) -> int:
        return (self.orientations + 1) + (len(self.magnitude_edges) + 1) + 2 * self.orientations

    @property
    def dim(self) -> int:
        """Length of the descriptor (576 with the defaults)."""
        return self.grid * self.grid * self.time_cells * self.cell_dim

    def __call__(self, flows: np.ndarray) -> np.ndarray:
        """(T, H, W, 2) float flow fields -> (dim,) float32 with unit L2 norm."""
        flows = np.asarray(flows, dtype=np.float32)
        if flows.ndim != 4 or flows.shape[-1] != 2 or flows.shape[0] < 1:
            raise ValueError(f"expected (T, H, W, 2) flow fields, got shape {flows.shape}")
        t, h, w, _ = flows.shape
        flows = flows * (224.0 / min(h, w))
        cell = self._cell_index(t, h, w)  # (T, H, W) in [0, cells)
        n_cells = self.grid * self.grid * self.time_cells
        u, v = flows[..., 0], flows[..., 1]
        # HOF / MAG on flow relative to the frame's median: cancels camera translation (as improved dense
        # trajectories do), so a panning background reads as static and the moving object stands out
        ru = u - np.median(u, axis=(1, 2), keepdims=True)
        rv = v - np.median(v, axis=(1, 2), keepdims=True)
        mag = np.hypot(ru, rv)
        moving = mag >= self.static_threshold
        hof_bin = np.where(moving, self._orientation_bin(ru, rv), self.orientations)
        hof_w = np.where(moving, mag, self.static_threshold)
        parts = [
            self._hist(cell, hof_bin, hof_w, n_cells, self.orientations + 1),
            self._hist(
                cell,
                np.searchsorted(np.asarray(self.magnitude_edges), mag),
                None,
                n_cells,
                len(self.magnitude_edges) + 1,
            ),
        ]
        for comp in (u, v):
            gy, gx = np.gradient(comp, axis=(1, 2))
            parts.append(self._hist(cell, self._orientation_bin(gx, gy), np.hypot(gx, gy), n_cells, self.orientations))
        hists = np.concatenate(parts, axis=1)  # (cells, cell_dim)
        out = hists.reshape(-1).astype(np.float32)
        return out / max(float(np.linalg.norm(out)), 1e-12)

    def _cell_index(self, t: int, h: int, w: int) -> np.ndarray:
        ti = np.minimum(np.arange(t) * self.time_cells // t, self.time_cells - 1)
        yi = np.minimum(np.arange(h) * self.grid // h, self.grid - 1)
        xi = np.minimum(np.arange(w) * self.grid // w, self.grid - 1)
        return (ti[:, None, None] * self.grid + yi[None, :, None]) * self.grid + xi[None, None, :]

    def _orientation_bin(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        angle = np.mod(np.arctan2(y, x), 2 * np.pi)
        return np.minimum((angle * (self.orientations / (2 * np.pi))).astype(np.int64), self.orientations - 1)

    @staticmethod
    def _hist(cell: np.ndarray, bins: np.ndarray, weights: np.ndarray | None, n_cells: int, n_bins: int) -> np.ndarray:
        """Per-cell histograms, L1-normalised then square-rooted. -> (n_cells, n_bins)."""
        idx = (cell * n_bins + bins).ravel()
        h = np.bincount(idx, weights=None if weights is None else weights.ravel(), minlength=n_cells * n_bins)
        h = h.reshape(n_cells, n_bins)
        return np.sqrt(h / np.maximum(h.sum(axis=1, keepdims=True), 1e-12))
