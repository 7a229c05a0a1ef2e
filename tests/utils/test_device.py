"""One device spec for extraction and training: parsing (torch-free), resolution, and the one-line errors."""

from __future__ import annotations

import pytest
import torch

from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig
from cotal.train.config import TrainConfig
from cotal.utils.device import parse_device, select_device


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("auto", ("auto", None)), ("cpu", ("cpu", None)), ("cuda", ("cuda", None)), ("cuda:0", ("cuda", 0))]
    + [("cuda:12", ("cuda", 12))],
)
def test_specs_parse(spec: str, parsed: tuple[str, int | None]) -> None:
    assert parse_device(spec) == parsed


@pytest.mark.parametrize("spec", ["tpu", "", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cpu:0", "cuda:1:2", "mps", None, 0])
def test_unknown_specs_are_one_line_config_errors_naming_the_setting(spec: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_device(spec, "train.device")
    assert str(err.value) == f"train.device: unknown device {spec!r}; expected auto, cpu, cuda or cuda:K"


def test_extraction_and_training_configs_check_the_spec_when_built() -> None:
    assert TrainConfig(device="cuda:1").device == "cuda:1"  # no GPU needed to build the config
    assert ExtractConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ConfigError, match=r"^train\.device: unknown device 'tpu'"):
        TrainConfig.from_dict({"device": "tpu"})
    with pytest.raises(ConfigError, match=r"^device: unknown device 'gpu'"):
        ExtractConfig(device="gpu")


def test_cpu_and_auto_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's rank matters only on CUDA
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_a_device_is_refused(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        select_device(spec, "train.device")
    assert str(err.value) == f"train.device is {spec!r} but torch sees no CUDA device"


def test_cuda_index_from_the_spec_or_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a (pretended) 2-GPU machine: LOCAL_RANK picks the GPU of "auto"/"cuda"; an explicit index wins."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert select_device("cuda") == torch.device("cuda")
    assert select_device("auto") == torch.device("cuda")
    assert select_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert select_device("auto") == torch.device("cuda", 1)
    assert select_device("cuda") == torch.device("cuda", 1)
    assert select_device("cuda:0") == torch.device("cuda", 0)
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^device 'cuda:2' names cuda:2, but torch sees 2 CUDA device\(s\)$"):
        select_device("cuda:2")
    monkeypatch.setenv("LOCAL_RANK", "3")
    with pytest.raises(ConfigError, match=r"^LOCAL_RANK=3 names cuda:3, but torch sees 2 CUDA device\(s\)$"):
        select_device("cuda")
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(ConfigError, match="LOCAL_RANK='one' is not a non-negative integer"):
        select_device("auto")


def test_parsing_needs_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cotal.utils.device import parse_device; from cotal.features.config import ExtractConfig; "
        "parse_device('cuda:3'); ExtractConfig(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
