"""Fault suite, class 3: no silent wrong result (overflowing values, non-finite training, other data in a run
folder, files far longer than their video)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.data import FeatureDataset
from cotal.data.fingerprint import check_run_data
from cotal.errors import ConfigError, NumericalError
from cotal.model import CoAttentionLoss, CoAttentionModel, load_model, save_model
from cotal.train.checkpoint import CHECKPOINT
from cotal.train.trainer import FINAL_MODEL
from cotal.utils.io import torch_save_atomic
from tests.faults_helpers import one_line_error, run_cli, snapshot
from tests.toy_data import write_toy_dataset
from tests.train.train_helpers import tiny_model_config, toy_trainer  # noqa: E402

TINY_FIT = [
    "--clusters", "2", "--rounds", "1", "--epochs", "1", "--quiet", "--set", "model.base_dim=16", "train.batch_size=6",
    "train.device=cpu",
]  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "data", num_videos=8)


def test_overflowing_values_are_refused_by_check_and_load(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = data / "rgb" / "video_0001.npy"
    x = np.load(bad)
    x[3, 5] = 1e20  # finite in float32, but squares overflow
    np.save(bad, x)
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1 and f"{bad}: value 1e+20 at snippet 3, dim 5 is beyond" in out
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "run", *TINY_FIT)
    assert code == 2
    one_line_error(err, str(bad), "beyond")
    assert not (tmp_path / "run" / "round_0" / "model_rgb" / FINAL_MODEL).exists()
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("run")} == before


def test_a_non_finite_loss_stops_at_its_step_naming_videos_and_term(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = FeatureDataset(data)
    forward, calls = CoAttentionLoss.forward, []

    def diverging(self, *args, **kwargs):
        total, terms = forward(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:  # the third update overflows
            terms = {**terms, "trip": torch.tensor(float("nan"))}
            total = total + terms["trip"]
        return total, terms

    monkeypatch.setattr(CoAttentionLoss, "forward", diverging)
    run = tmp_path / "train"
    with pytest.raises(NumericalError, match=r"training step 2: loss term trip is not finite .*video_0") as err:
        toy_trainer(ds, run, checkpoint_every=100).fit()
    assert "\n" not in str(err.value)
    assert not (run / FINAL_MODEL).exists() and not (run / CHECKPOINT).exists()


def test_a_non_finite_model_is_never_saved_or_loaded(tmp_path: Path) -> None:
    model = CoAttentionModel(8, 3, tiny_model_config())
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(NumericalError, match="refusing to save"):
        save_model(tmp_path / "m.pt", model, stream="rgb", step=1)
    assert not (tmp_path / "m.pt").exists()
    good = CoAttentionModel(8, 3, tiny_model_config())
    save_model(tmp_path / "m.pt", good, stream="rgb", step=1)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    name = next(iter(state["state_dict"]))
    state["state_dict"][name] = torch.full_like(state["state_dict"][name], float("inf"))
    torch_save_atomic(tmp_path / "m.pt", state)
    with pytest.raises(NumericalError, match=f"refusing to load .*{name}"):
        load_model(tmp_path / "m.pt")


def test_run_folder_refuses_other_data_with_the_same_ids(tmp_path: Path) -> None:
    data = write_toy_dataset(tmp_path / "data", num_videos=8)
    run = tmp_path / "run"
    check_run_data(run, FeatureDataset(data))
    check_run_data(run, FeatureDataset(data))  # same data: resumes
    other = write_toy_dataset(tmp_path / "other", num_videos=8, seed=1)  # same ids, other features
    with pytest.raises(ConfigError, match="was made from other data \\(path differs"):
        check_run_data(run, FeatureDataset(other))
    x = np.load(data / "flow" / "video_0002.npy")
    np.save(data / "flow" / "video_0002.npy", np.concatenate([x, x[:1]]))  # one file changed in place
    with pytest.raises(ConfigError, match="feature_files differs"):
        check_run_data(run, FeatureDataset(data))


@pytest.mark.slow
def test_fit_on_a_run_folder_made_from_other_data(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert run_cli(capsys, "fit", "--data", data, "--out", run, *TINY_FIT)[0] == 0
    np.save(data / "rgb" / "video_0000.npy", np.load(data / "rgb" / "video_0000.npy") * 2)
    before = snapshot(run)
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", run, *TINY_FIT)
    assert code == 2
    one_line_error(err, "other data", "feature_files differs")
    assert snapshot(run) == before


def test_a_file_far_longer_than_its_video_is_refused_before_the_quadratic_work(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    long = data / "rgb" / "video_0000.npy"
    np.save(long, np.zeros((5000, 8), np.float32))  # the video lasts 20-40 snippets
    code, _, err = run_cli(capsys, "fit", "--data", data, "--out", tmp_path / "run", *TINY_FIT)
    assert code == 2
    one_line_error(err, str(long), "T = 5000 snippets")
    np.save(long, np.zeros((20_001, 8), np.float32))
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1 and "exceeds the limit of 20000" in out


def test_a_malformed_model_file_is_one_data_error(tmp_path: Path) -> None:
    from cotal.errors import DataError

    save_model(tmp_path / "m.pt", CoAttentionModel(8, 3, tiny_model_config()), stream="rgb", step=1)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    torch_save_atomic(tmp_path / "m.pt", {**state, "state_dict": [1, 2]})
    with pytest.raises(DataError, match="malformed model state"):
        load_model(tmp_path / "m.pt")


def test_reversed_segments_and_absurd_times_are_refused_everywhere(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    path = data / "annotations.json"
    doc = json.loads(path.read_text())
    doc["database"]["video_0001"]["annotations"][0]["segment"] = [9.0, 2.0]
    doc["database"]["video_0002"]["duration"] = 1e308
    doc["database"]["video_0003"]["annotations"][0]["segment"] = [0, 10**400]
    doc["database"]["video_0004"]["duration"] = "abc"
    path.write_text(json.dumps(doc))
    before = snapshot(tmp_path)
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1  # every broken video is listed, not only the first
    assert "video_0001" in out and "ends before it starts" in out and out.count("'duration' must be") == 2
    assert "video_0003" in out and "not in annotations.json" not in out
    for args in (["data", "info", data], ["fit", "--data", data, "--out", tmp_path / "run", *TINY_FIT]):
        code, _, err = run_cli(capsys, *args)
        assert code == 2
        one_line_error(err, "annotations.json", "video_0001", "ends before it starts")
    assert snapshot(tmp_path) == before


def test_npy_files_must_hold_exactly_what_their_header_says(data: Path, capsys: pytest.CaptureFixture) -> None:
    f = data / "rgb" / "video_0000.npy"
    x = np.load(f)
    np.save(f, x[:-3])
    with open(f, "ab") as fh:  # rows appended behind a header that claims fewer
        fh.write(x[-3:].tobytes())
    code, out, _ = run_cli(capsys, "data", "check", data)
    assert code == 1 and f"{f}: corrupt .npy file: {3 * x.shape[1] * 4} bytes beyond the data" in out
    with pytest.raises(Exception, match="bytes beyond the data"):
        FeatureDataset(data).features("video_0000", "rgb")


def test_float16_features_raise_no_numpy_warning(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import warnings

    for f in (data / "rgb").glob("*.npy"):
        np.save(f, np.load(f).astype(np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(capsys, "data", "check", data)
    assert code == 0 and "Warning" not in err


def test_eval_refuses_the_cluster_file_of_another_dataset(data: Path, tmp_path: Path, capsys) -> None:
    from cotal.evaluate import write_detections
    from cotal.evaluate.formats import write_clusters

    dets, clusters = tmp_path / "dets.json", tmp_path / "clusters.json"
    write_detections(dets, {"video_0007": [{"segment": [0.0, 1.0], "label": "0", "score": 1.0}]})
    write_clusters(clusters, {"video_0000": 0, "video_0001": 1, "other_0000": 0, "other_0001": 1})
    code, _, err = run_cli(capsys, "eval", "--data", data, "--detections", dets, "--cluster-file", clusters)
    assert code == 2
    one_line_error(err, str(clusters), "2 of 4 assigned videos are not in the ground truth", "another dataset")


def test_detect_names_a_feature_dimension_mismatch(data: Path, tmp_path: Path, capsys) -> None:
    import yaml

    from cotal.config import load_config
    from cotal.utils.io import write_json

    run = tmp_path / "run"
    for stream in ("rgb", "flow"):
        model = CoAttentionModel(4, 3, tiny_model_config())
        save_model(run / "round_0" / f"model_{stream}" / "model.pt", model, stream=stream, step=1)
    (run / "config.yaml").write_text(yaml.safe_dump(load_config(None).to_dict()))
    models = {s: f"round_0/model_{s}/model.pt" for s in ("rgb", "flow")}
    write_json(run / "final.json", {"supervision": "none", "class_names": ["0", "1", "2"], "models": models})
    code, _, err = run_cli(capsys, "detect", "--run", run, "--data", data, "--out", tmp_path / "d.json")
    assert code == 2
    one_line_error(err, "trained on 4-d features", "rgb features are 8-d")
