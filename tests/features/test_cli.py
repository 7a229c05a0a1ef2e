"""``cotal extract``'s options: defaults read from :class:`ExtractConfig`, values mapped onto its fields.

Needs neither PyAV nor OpenCV: building the parser and the config imports no decoder.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import replace

import pytest

from cotal.cli import extract as extract_cli
from cotal.errors import ConfigError
from cotal.features.config import ExtractConfig, FlowMethod, Precision


def _parser() -> argparse.ArgumentParser:
    subparsers = argparse.ArgumentParser().add_subparsers(dest="command")
    extract_cli.register(subparsers)
    return subparsers.choices["extract"]


def _args(argv: list[str]) -> argparse.Namespace:
    return _parser().parse_args(argv)


def test_cli_defaults_are_the_config_defaults() -> None:
    config = extract_cli.config_from_args(_args(["--out", "feats"]))
    assert config == replace(ExtractConfig(), progress=config.progress)  # progress: only on a terminal


def test_cli_values_reach_the_config() -> None:
    argv = ["--out", "feats", "--fps", "30", "--size", "112", "--resize-short", "160", "--batch", "4"]
    argv += ["--streams", "flow", "--flow", "farneback", "--device", "cuda:1", "--precision", "bf16"]
    argv += ["--subset", "all", "--train-subset", "tr", "--test-subset", "te", "--name", "n", "--shard", "1/3"]
    config = extract_cli.config_from_args(_args([*argv, "--overwrite", "--no-progress"]))
    expected = ExtractConfig(
        fps=30.0, size=112, resize_short=160, batch_size=4, streams=("flow",), flow_method="farneback",
        device="cuda:1", precision="bf16", subset="all", train_subset="tr", test_subset="te", name="n",
        shard=(1, 3), overwrite=True, progress=False,
    )  # fmt: skip
    assert config == expected


def test_cli_choices_are_the_config_literals() -> None:
    actions = {a.dest: a for a in _parser()._actions}
    assert tuple(actions["flow"].choices) == typing.get_args(FlowMethod)
    assert tuple(actions["precision"].choices) == typing.get_args(Precision)


def test_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^device: unknown device 'gpu'"):
        extract_cli.config_from_args(_args(["--out", "feats", "--device", "gpu"]))
    with pytest.raises(ConfigError, match="--shard"):
        extract_cli.config_from_args(_args(["--out", "feats", "--shard", "3/3"]))
