"""The networks and the flow estimator of a run, on its device, and the network call itself."""

from __future__ import annotations

import time

import numpy as np
import torch

from cotal.features.config import ExtractConfig
from cotal.features.flow import FlowDescriptor, FlowEstimator
from cotal.features.i3d import InceptionI3d, optimize_for_inference
from cotal.features.weights import build_i3d
from cotal.utils.device import select_device
from cotal.utils.precision import autocast


class Backbones:
    """The networks / descriptor of a run, loaded once (networks in their inference form, see
    :func:`~cotal.features.i3d.optimize_for_inference`): the flow estimator when constructed, the networks by
    :meth:`load_networks`."""

    def __init__(self, config: ExtractConfig) -> None:
        self.device = select_device(config.device)
        self.config = config
        self.rgb: InceptionI3d | None = None
        self.flow_net: InceptionI3d | None = None
        self.flow = FlowEstimator(config.flow_method) if "flow" in config.streams else None
        self.descriptor = FlowDescriptor()
        self.flow_by_network = "flow" in config.streams and bool(config.flow_weights)

    def load_networks(self) -> None:
        """Load the I3D networks (the decoder may already run: it needs only the flow estimator)."""
        config = self.config
        # channels_last_3d is what oneDNN's 3D convolutions want; CUDA keeps PyTorch's default layout (not measured)
        channels_last = self.device.type == "cpu"
        if "rgb" in config.streams:
            net = build_i3d(config.rgb_weights, in_channels=3)
            self.rgb = optimize_for_inference(net, channels_last=channels_last).to(self.device)
        if self.flow_by_network:
            net = build_i3d(config.flow_weights, in_channels=2)
            self.flow_net = optimize_for_inference(net, channels_last=channels_last).to(self.device)

    def run(self, net: InceptionI3d, batch: np.ndarray, timings: dict[str, float]) -> np.ndarray:
        """(B, T, H, W, C) uint8 RGB (scaled to [-1, 1] here) or float flow input -> (B, 1024) float32."""
        t0 = time.perf_counter()
        # (B, C, T, H, W) view of the channels-last array: already the channels_last_3d layout, no copy
        x = torch.from_numpy(batch).to(self.device).permute(0, 4, 1, 2, 3)
        if x.dtype == torch.uint8:  # the same float32 ops as `batch.astype(np.float32) / 127.5 - 1.0`
            x = x.float().div_(127.5).sub_(1.0)
        with torch.inference_mode(), autocast(self.device, self.config.precision):
            out = net.features(x).float().cpu().numpy()
        timings["network"] += time.perf_counter() - t0
        return out
