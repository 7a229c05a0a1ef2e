"""One config convention: every stage's dataclass built and checked by one builder, defaults stated once."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from cotal.cluster.config import ClusterConfig
from cotal.config import PRESETS, Config, load_config
from cotal.detect.config import DetectConfig
from cotal.errors import ConfigError, DataError
from cotal.evaluate.tiou import ACTIVITYNET_TIOU, THUMOS14_TIOU
from cotal.utils.configs import build_config

SNAPSHOT = Path(__file__).parent / "config_snapshot.yaml"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _sections() -> dict[str, type]:
    """{section name: its dataclass}."""
    return typing.get_type_hints(Config)


def _literal_fields() -> list[tuple[str, str, tuple]]:
    out = []
    for section, cls in _sections().items():
        for key, hint in typing.get_type_hints(cls).items():
            if typing.get_origin(hint) is typing.Literal:
                out.append((section, key, typing.get_args(hint)))
    return out


@pytest.mark.parametrize("name", ["defaults", *PRESETS])
def test_defaults_and_presets_resolve_to_the_snapshot(name):
    before = yaml.safe_load(SNAPSHOT.read_text())[name]
    now = load_config(None if name == "defaults" else name).to_dict()
    assert yaml.safe_dump(now, sort_keys=True) == yaml.safe_dump(before, sort_keys=True)  # types too (0 vs 0.0)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("top_fraction", 0.0, r"cluster.top_fraction must be a number in \(0, 1\]"),
        ("center", "yes", "cluster.center: expected"),
    ],
)
def test_cluster_settings_are_range_checked_when_the_config_is_built(key, value, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides={"cluster": {key: value}})


def test_tiou_thresholds_are_the_evaluation_constants():
    assert load_config(None).pipeline.tiou_thresholds == THUMOS14_TIOU
    assert load_config("thumos14").pipeline.tiou_thresholds == THUMOS14_TIOU
    assert load_config("activitynet12").pipeline.tiou_thresholds == ACTIVITYNET_TIOU


def test_every_literal_is_checked_by_the_builder_and_on_construction():
    fields = _literal_fields()
    assert {(s, k) for s, k, _ in fields} >= {
        ("pipeline", "attention_pooling"),
        ("pipeline", "select_round"),
        ("model", "fab"),
        ("loss", "reduction"),
        ("train", "precision"),
        ("detect", "activation"),
        ("detect", "resolution"),
        ("cluster", "solver"),
        ("cluster", "pooling"),
        ("data", "normalize"),
    }
    for section, key, choices in fields:
        message = f"{section}.{key}: 'x' is not one of {', '.join(map(repr, choices))}"
        with pytest.raises(ConfigError) as err:
            load_config(None, {section: {key: "x"}})
        assert str(err.value) == message
        cls = _sections()[section]
        with pytest.raises(ConfigError) as err:
            cls(**{key: "x"})
        assert str(err.value) == message


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("detect", {"resolution": "x"}, "detect.resolution: 'x' is not one of 'frame', 'snippet'"),
        ("detect", {"dilation": -2}, "detect.dilation must be an integer >= 0, got -2"),
        ("detect", {"max_per_video": 0}, "detect.max_per_video must be an integer >= 1, got 0"),
        ("model", {"dropout": 1.0}, "model.dropout must be a number in [0, 1), got 1.0"),
        ("model", {"hidden": 3}, "model: unknown key 'hidden'; known keys: "),
        ("loss", {"alpha": -1}, "loss.alpha must be a number >= 0, got -1.0"),
        ("train", {"lr": 0}, "train.lr must be a number > 0, got 0.0"),
        ("train", {"epochs": 2.5}, "train.epochs: expected an integer, got 2.5"),
        ("pipeline", {"seed": -1}, "pipeline.seed must be an integer in [0, 4294967295], got -1"),
        ("pipeline", {"streams": ["rgb", "depth"]}, "pipeline.streams must be distinct names among rgb, flow"),
        ("cluster", {"solver": "fast"}, "cluster.solver: 'fast' is not one of 'auto', 'dense', 'sparse'"),
    ],
)
def test_errors_are_one_line_and_name_the_key(section, values, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, {section: values})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_from_dict_and_keyword_arguments_use_the_builder():
    from cotal.model.config import LossConfig, ModelConfig
    from cotal.train.config import TrainConfig

    assert ModelConfig.from_dict({"base_dim": 4, "fab": "paper"}).fab == "paper"
    assert LossConfig.from_dict({"alpha": 1}).alpha == 1.0
    for cls, section in ((ModelConfig, "model"), (LossConfig, "loss"), (TrainConfig, "train")):
        with pytest.raises(ConfigError, match=rf"^{section}: unknown key 'nope'"):
            cls.from_dict({"nope": 1})
    assert build_config(DetectConfig, {"dilation": 0}, "detect").dilation == 0


def test_a_config_key_under_an_old_name_is_an_unknown_key():
    with pytest.raises(ConfigError, match="pipeline: unknown key 'fusion'"):
        load_config(None, {"pipeline": {"fusion": "late"}})


def test_cluster_defaults_are_stated_once():
    from cotal.cluster.spectral import SOLVERS, SpectralVideoClustering

    cfg = ClusterConfig()
    params = inspect.signature(SpectralVideoClustering.__init__).parameters
    assert params["solver"].default == cfg.solver
    assert SOLVERS == typing.get_args(typing.get_type_hints(ClusterConfig)["solver"])


def test_dataset_yaml_is_read_by_the_same_builder(tmp_path):
    from cotal.data.dataset import DatasetMeta

    path = tmp_path / "dataset.yaml"
    path.write_text("fps: 30\nstride: 8\nframes: 3\n")
    with pytest.raises(DataError, match=rf"^{path}: unknown key 'frames'; known keys: fps, name, stride"):
        DatasetMeta.load(path)
    path.write_text("fps: 30\nstride: fast\n")
    with pytest.raises(DataError, match=rf"^{path}: stride: expected a number, got 'fast'"):
        DatasetMeta.load(path)
    path.write_text("fps: 30\nstride: 8\n")
    assert DatasetMeta.load(path).timing.seconds_per_snippet == pytest.approx(8 / 30)


def test_config_modules_load_without_heavy_libraries():
    script = (
        "import sys\n"
        "from cotal.config import load_config\n"
        "import cotal.cluster.config, cotal.data.config, cotal.model.config, cotal.train.config\n"
        "load_config('demo')\n"
        "print(sorted(m for m in ('torch', 'scipy', 'sklearn', 'cv2') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_range_checks_on_direct_construction():
    from cotal.train.config import TrainConfig

    assert DetectConfig(max_per_video=None, smooth_window=None).max_per_video is None
    assert TrainConfig(max_len=None).max_len is None
    for bad in ({"dilation": None}, {"dilation": 2.5}, {"smooth_window": float("nan")}):
        with pytest.raises(ConfigError, match=rf"^detect\.{next(iter(bad))} must be"):
            DetectConfig(**bad)
    with pytest.raises(ConfigError, match=r"^train\.lr must be a number > 0, got inf"):
        TrainConfig(lr=float("inf"))


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    """YAML 1.1 reads 1e-3 as a string; a config must not (the README's own example is --set train.lr=5e-4)."""
    from cotal.config import parse_overrides

    assert load_config(None, parse_overrides(["train.lr=5e-4"])).train.lr == 5e-4
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-3\nloss:\n  alpha: 2E+0\n")
    config = load_config(path)
    assert (config.train.lr, config.loss.alpha) == (1e-3, 2.0)
