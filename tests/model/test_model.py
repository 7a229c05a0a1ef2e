"""Properties of the co-attention model: padding invariance, masked attention, channel dropout, configuration."""

from __future__ import annotations

import pytest
import torch

from cotal.errors import ConfigError, DataError
from cotal.model import CoAttentionModel, ModelConfig
from cotal.model.ops import masked_softmax
from cotal.train.batching import collate

IN_DIM, NUM_CLASSES = 10, 4
SMALL = ModelConfig(base_dim=16)


def _model(config: ModelConfig = SMALL) -> CoAttentionModel:
    return CoAttentionModel(IN_DIM, NUM_CLASSES, config)


def _videos(lengths: list[int], dim: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(t, dim, generator=gen) for t in lengths]


@pytest.mark.parametrize("config", [SMALL, ModelConfig(base_dim=16, fab="paper")])
def test_outputs_do_not_change_when_padded_with_longer_videos(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = _model(config).eval()
    torch.nn.init.normal_(model.fab.nonlocal_block.out.weight, std=0.3)  # make the global branch non-trivial
    short, *others = _videos([7, 40, 25, 3], IN_DIM)
    alone = model(short.unsqueeze(0))
    x, mask = collate([*others, short])
    batched = model(x, mask)
    for name in ("cas", "attention", "x_cs", "x_ca", "logits"):
        got = getattr(batched, name)[-1]
        want = getattr(alone, name)[0]
        if name != "logits":
            got = got[: short.shape[0]]
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=name)


def test_attention_is_a_masked_softmax_over_time() -> None:
    model = _model().eval()
    x, mask = collate(_videos([5, 12, 1], IN_DIM))
    out = model(x, mask)
    torch.testing.assert_close(out.attention.sum(1), torch.ones(3))
    assert torch.all(out.attention[~mask] == 0) and torch.all(out.attention[mask] > 0)
    assert torch.all(out.cas[~mask] == 0) and torch.all(out.x_cs[~mask] == 0) and torch.all(out.x_ca[~mask] == 0)
    torch.testing.assert_close(out.logits, torch.einsum("btc,bt->bc", out.cas, out.attention))


def test_masked_softmax_ignores_huge_padded_logits() -> None:
    logits = torch.tensor([[1.0, 2.0, 1e6], [0.5, 1e6, 1e6]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    probs = masked_softmax(logits, mask, dim=1)
    torch.testing.assert_close(probs[0, :2], torch.softmax(logits[0, :2], 0))
    assert probs[1, 0] == 1 and torch.all(probs[~mask] == 0)


def test_input_dropout_drops_whole_channels_per_video() -> None:
    # One active input channel: a video's output in training must be the eval output of either the channel
    # dropped for the whole video (input 0) or kept and rescaled by 1 / (1 - p) = 2 -- never a mix over time.
    model = _model(ModelConfig(base_dim=16, dropout=0.5))
    x = torch.zeros(2, 7, IN_DIM)
    x[:, :, 3] = torch.linspace(0.5, 2.0, 7)
    mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    model.eval()
    dropped, kept = model(torch.zeros_like(x), mask).cas, model(2 * x, mask).cas
    model.train()
    outcomes = set()
    for seed in range(12):
        torch.manual_seed(seed)
        cas = model(x, mask).cas
        for b in range(2):
            is_kept = torch.allclose(cas[b], kept[b], atol=1e-6)
            assert is_kept or torch.allclose(cas[b], dropped[b], atol=1e-6)
            outcomes.add(is_kept)
    assert outcomes == {True, False}


def test_nonlocal_block_starts_as_identity() -> None:
    model = _model()
    g = torch.randn(2, 6, 128)
    m = torch.ones(2, 6, 1)
    torch.testing.assert_close(model.fab.nonlocal_block(g, m), g)


def test_sizes_follow_the_config() -> None:
    model = CoAttentionModel(6, 3, ModelConfig(base_dim=8))
    out = model(torch.randn(2, 11, 6))
    assert model.cs_dim == 128 + 4 * 32 and out.x_cs.shape == (2, 11, 256)  # the authors' global + pyramid
    assert out.cas.shape == (2, 11, 3) and out.x_ca.shape == (2, 11, 128) and out.logits.shape == (2, 3)
    paper = CoAttentionModel(6, 3, ModelConfig(base_dim=8, fab="paper"))
    assert paper(torch.randn(1, 4, 6)).x_cs.shape == (1, 4, 8)  # fused back to base_dim
    assert paper.fab.temporal is not None and model.fab.temporal is None


def test_invalid_configuration_and_inputs_raise_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="fab"):
        ModelConfig(fab="sum")
    with pytest.raises(ConfigError, match="base_dim"):
        ModelConfig(base_dim=0)
    with pytest.raises(ConfigError, match="unknown key"):
        ModelConfig.from_dict({"in_dim": 4})  # D comes from the features, never from a config
    with pytest.raises(ConfigError, match="num_classes"):
        CoAttentionModel(4, 0)
    model = _model()
    with pytest.raises(ConfigError, match="expected"):
        model(torch.randn(1, 5, 3))
    with pytest.raises(DataError, match="no valid snippet"):
        model(torch.randn(2, 5, IN_DIM), torch.tensor([[True] * 5, [False] * 5]))


@pytest.mark.parametrize("p", [0.5, 0.3, 0.7])
def test_input_map_rounds_as_standardise_mask_then_drop_channels(p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The training input is ((x - shift) * scale * mask) * channel_dropout, in that order, bit for bit, for any p."""
    import torch.nn.functional as F

    import cotal.model.coattention as coattention

    seen: list[torch.Tensor] = []
    real = coattention.same_convs

    def recording(h: torch.Tensor, *args: object, **kwargs: object) -> list[torch.Tensor]:
        seen.append(h.detach().clone())
        return real(h, *args, **kwargs)

    monkeypatch.setattr(coattention, "same_convs", recording)
    torch.manual_seed(0)
    model = CoAttentionModel(64, 3, ModelConfig(dropout=p)).train()
    shift, scale = torch.randn(64), torch.rand(64) * 3 + 0.1
    model.set_input_normalization(shift, scale)
    x, mask = torch.randn(4, 50, 64), torch.ones(4, 50, dtype=torch.bool)
    mask[1, 30:] = False
    torch.manual_seed(1)
    model(x, mask)
    torch.manual_seed(1)
    drop = F.dropout(torch.ones(4, 1, 64), p=p, training=True)
    expected = (x - shift) * scale * mask.unsqueeze(-1).float() * drop
    assert torch.equal(seen[0], expected)
