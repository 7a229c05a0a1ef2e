"""Trainer: learning on the toy set, exact resumption, checkpoints, logs and input errors."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.data import FeatureDataset
from cotal.errors import ConfigError, DataError
from cotal.model import load_model
from cotal.train.checkpoint import CHECKPOINT
from cotal.train.config import TrainConfig
from cotal.train.export import export_outputs
from cotal.train.log import LOG_CSV
from cotal.train.trainer import FINAL_MODEL, Trainer
from tests.train.train_helpers import default_loss, gt_labels, tiny_model_config, tiny_train_config, toy_trainer


def _fit(ds: FeatureDataset, run_dir: Path, **overrides: object) -> torch.nn.Module:
    return toy_trainer(ds, run_dir, **overrides).fit()


def _read_log(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / LOG_CSV, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key  # bitwise: resumption replays the exact computation


def test_loss_decreases_and_log_is_written(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    _fit(ds, tmp_path / "run", epochs=30, log_every=4, checkpoint_every=100)
    rows = _read_log(tmp_path / "run")
    assert [int(r["step"]) for r in rows] == list(range(4, 61, 4))
    assert {"epoch", "lr", "cls", "abs", "trip", "total", "snippets_per_s"} <= rows[0].keys()
    first = np.mean([r["total"] for r in rows[:3]])
    last = np.mean([r["total"] for r in rows[-3:]])
    assert last < first - 0.1
    # lr drops x0.1 after half of the 60 steps
    assert rows[0]["lr"] == pytest.approx(1e-3) and rows[-1]["lr"] == pytest.approx(1e-4)
    assert (tmp_path / "run" / FINAL_MODEL).is_file()


def test_weakly_supervised_training_fits_video_labels(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    ids, labels, _, _ = gt_labels(ds)
    model = toy_trainer(
        ds,
        tmp_path / "run",
        model_config=tiny_model_config(dropout=0.2),
        epochs=30,
        lr=1e-2,
        checkpoint_every=1000,
        log_every=1000,
    ).fit()
    outputs = export_outputs(model, ds, ids, "rgb")
    predicted = np.array([outputs[v].probs.argmax() for v in ids])
    assert (predicted == labels).mean() >= 8 / 9


def test_resume_after_crash_reaches_the_same_weights(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = FeatureDataset(toy_dataset)
    # 9 training videos, batch 6: 2 steps per epoch, 8 steps; checkpoints at steps 3, 6, 8; dropout is on.
    straight = _fit(ds, tmp_path / "straight")

    step = Trainer._train_step

    def crash_at_5(self: Trainer, *args: object) -> object:
        if self.step == 5:
            raise KeyboardInterrupt
        return step(self, *args)

    monkeypatch.setattr(Trainer, "_train_step", crash_at_5)
    with pytest.raises(KeyboardInterrupt):
        _fit(ds, tmp_path / "crashed")
    assert torch.load(tmp_path / "crashed" / CHECKPOINT, weights_only=True)["step"] == 3
    assert not (tmp_path / "crashed" / FINAL_MODEL).exists()
    monkeypatch.undo()

    resumed = _fit(ds, tmp_path / "crashed")
    _assert_same_weights(straight, resumed)
    assert [r["step"] for r in _read_log(tmp_path / "crashed")] == [2, 4, 6, 8]
    straight_log, resumed_log = _read_log(tmp_path / "straight"), _read_log(tmp_path / "crashed")
    for a, b in zip(straight_log, resumed_log, strict=True):
        assert a["total"] == pytest.approx(b["total"], abs=1e-6)


def test_max_steps_then_resume_and_completed_run(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    straight = _fit(ds, tmp_path / "straight")
    ids, _, targets, groups = gt_labels(ds)
    common = dict(
        stream="rgb",
        model_config=tiny_model_config(),
        loss_config=default_loss(),
        train_config=tiny_train_config(),
        run_dir=tmp_path / "split",
        progress=False,
        checkpoint_every=3,
        log_every=2,
    )
    Trainer(ds, ids, targets, groups, **common).fit(max_steps=5)
    assert torch.load(tmp_path / "split" / CHECKPOINT, weights_only=True)["step"] == 5
    resumed = Trainer(ds, ids, targets, groups, **common).fit()
    _assert_same_weights(straight, resumed)
    # A finished run resumes to its final weights without training again.
    again = Trainer(ds, ids, targets, groups, **common).fit()
    _assert_same_weights(straight, again)
    # resume=False starts over and overwrites: stop early, the earlier run's model.pt must be gone.
    Trainer(ds, ids, targets, groups, **common).fit(resume=False, max_steps=2)
    assert not (tmp_path / "split" / FINAL_MODEL).exists()
    assert [r["step"] for r in _read_log(tmp_path / "split")] == [2]
    fresh = Trainer(ds, ids, targets, groups, **common).fit()
    _assert_same_weights(straight, fresh)
    _assert_same_weights(straight, load_model(tmp_path / "split" / FINAL_MODEL)[0])


def test_one_trainer_fitted_again_resumes_or_starts_over_exactly(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    straight = _fit(ds, tmp_path / "straight")
    trainer = toy_trainer(ds, tmp_path / "split")
    first = trainer.fit(max_steps=5)
    first_weights = {k: v.clone() for k, v in first.state_dict().items()}
    _assert_same_weights(straight, trainer.fit())  # resumes from step 5: the sampler is replayed from its start
    _assert_same_weights(straight, trainer.fit(resume=False))  # starts over from the initial weights
    assert all(torch.equal(first.state_dict()[k], v) for k, v in first_weights.items())  # returned models stay


def test_resume_refuses_a_checkpoint_of_another_run(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    _fit(ds, tmp_path / "run", epochs=1)
    with pytest.raises(ConfigError, match="train.lr"):
        _fit(ds, tmp_path / "run", epochs=1, lr=1e-2)
    # Logging/checkpoint cadence does not change the trajectory, so it may differ; the seed does.
    with pytest.raises(ConfigError, match="seed"):
        _fit(ds, tmp_path / "run", epochs=1, seed=1)
    _fit(ds, tmp_path / "run", epochs=1, log_every=5, checkpoint_every=7)


def test_checkpoint_and_model_load_with_weights_only(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    model = _fit(ds, tmp_path / "run", epochs=1)
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["step"] == 2 and {"model", "optimizer", "torch_rng"} <= ckpt.keys()
    fields = {"format", "step", "fingerprint", "model", "optimizer", "torch_rng", "log_sums", "log_count"}
    assert ckpt["format"] == "cotal-train-checkpoint-v2" and ckpt.keys() == fields
    assert json.loads(ckpt["fingerprint"])["seed"] == 0
    loaded, stream = load_model(tmp_path / "run" / FINAL_MODEL)
    assert stream == "rgb" and (loaded.in_dim, loaded.num_classes) == (8, 3)
    _assert_same_weights(model, loaded)
    x = torch.from_numpy(np.array(ds.features(ds.train_ids[0], "rgb"), dtype=np.float32))[None]
    torch.testing.assert_close(model(x).logits, loaded(x).logits)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda a: a.update(targets=a["targets"][:-1]), DataError, "targets have shape"),
        (lambda a: a.update(video_ids=[], targets=np.zeros((0, 3)), groups_of_video=[]), DataError, "empty"),
        (lambda a: a.update(targets=a["targets"] * 2), DataError, "sum to 2"),
        (lambda a: a.update(groups_of_video=[[5]] * len(a["video_ids"])), DataError, "outside"),
        (lambda a: a.update(groups_of_video=a["groups_of_video"][:-1]), DataError, "groups_of_video has"),
        (lambda a: a.update(video_ids=[a["video_ids"][0]] * len(a["video_ids"])), DataError, "listed twice"),
        (lambda a: a.update(targets=a["targets"][:, 0]), DataError, "targets have shape"),
    ],
)
def test_bad_inputs_raise_clear_errors(toy_dataset: Path, tmp_path: Path, change, error, match) -> None:
    ds = FeatureDataset(toy_dataset)
    ids, _, targets, groups = gt_labels(ds)
    args = dict(video_ids=ids, targets=targets, groups_of_video=groups, model_config=tiny_model_config())
    change(args)
    with pytest.raises(error, match=match):
        Trainer(
            ds,
            args["video_ids"],
            args["targets"],
            args["groups_of_video"],
            stream="rgb",
            model_config=args["model_config"],
            loss_config=default_loss(),
            train_config=tiny_train_config(),
            run_dir=tmp_path / "run",
        ).fit()


def test_missing_video_and_stream_name_the_culprit(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    ids, _, targets, groups = gt_labels(ds)
    (toy_dataset / "rgb" / f"{ids[1]}.npy").unlink()
    kwargs = dict(loss_config=default_loss(), train_config=tiny_train_config(), run_dir=tmp_path / "run")
    with pytest.raises(DataError, match=ids[1]):
        Trainer(ds, ids, targets, groups, stream="rgb", model_config=tiny_model_config(), **kwargs).fit()
    with pytest.raises(DataError, match="depth"):
        Trainer(ds, ids, targets, groups, stream="depth", model_config=tiny_model_config(), **kwargs).fit()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 5}, "batch_size"),
        ({"max_len": 0}, "max_len"),
        ({"lr": 0.0}, "lr"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_train_config_validation(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        replace(TrainConfig(), **overrides)
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({"epoch": 3})


def test_training_leaves_the_callers_random_state_alone(toy_dataset: Path, tmp_path: Path) -> None:
    ds = FeatureDataset(toy_dataset)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = _fit(ds, tmp_path / "a", epochs=2, checkpoint_every=100)
    assert torch.equal(torch.get_rng_state(), before)  # seeding happens inside the trainer, on a forked generator
    torch.manual_seed(7)  # another caller state: the trained weights depend only on the trainer's seed
    _assert_same_weights(first, _fit(ds, tmp_path / "b", epochs=2, checkpoint_every=100))
