"""CSNLN-specific checks: the attention maths (paper Eq. 1, 3-4), the official channel=128 oddity, the shared SEM
cell, input-size rules and the official ``--chop`` test protocol. The golden/manifest tests cover exactness."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sr_lib.errors import ConfigError, DataError
from sr_lib.models import create_model, get_model_entry
from sr_lib.complexity import count_parameters
from sr_lib.models.csnln import (
    CSNLN,
    CrossScaleAttention,
    NonLocalAttention,
    RecurrentProjection,
    forward_chop,
)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("u", [2, 3])
def test_cross_scale_attention_probabilities_and_upscaled_output(u: int) -> None:
    torch.manual_seed(0)
    att = CrossScaleAttention(channel=8, scale=u).double()
    x = _rand(2, 8, 2 * u, 4 * u)
    probs = att.attention_probs(x)
    assert probs.shape == (2, 2 * 4, 2 * u, 4 * u)  # one softmax over the (H/u)(W/u) key patches per query
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2, 2 * u, 4 * u, dtype=torch.float64))
    assert att(x).shape == (2, 8, 2 * u * u, 4 * u * u)


def test_cross_scale_attention_equals_a_loop_over_eq4() -> None:
    """Patch-to-patch CS-NL (Eq. 4) written with explicit loops, one sample at a time, vs the batched module."""
    torch.manual_seed(0)
    s, k, c = 2, 3, 4
    att = CrossScaleAttention(channel=c, scale=s).double()
    x = _rand(2, c, 4, 6, seed=1)
    with torch.no_grad():
        out = att(x)
        expected = torch.stack([_eq4_by_loops(att, x[n : n + 1], s, k, c) for n in range(2)])
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def _eq4_by_loops(att: CrossScaleAttention, xi: torch.Tensor, s: int, k: int, c: int) -> torch.Tensor:
    q = F.pad(att.conv_match_1(xi), (1, 1, 1, 1))[0]
    ref = F.pad(att.conv_match_2(F.interpolate(xi, scale_factor=1 / s, mode="bilinear")), (1, 1, 1, 1))[0]
    a = F.pad(att.conv_assembly(xi), (s, s, s, s))[0]  # 'same' padding of the (ks)x(ks), stride-s patches
    h, w = xi.shape[-2:]
    keys = [ref[:, g : g + k, j : j + k] for g in range(h // s) for j in range(w // s)]
    keys = [p / max(float(p.norm()), 1e-4) for p in keys]
    big = [a[:, s * g : s * g + s * k, s * j : s * j + s * k] for g in range(h // s) for j in range(w // s)]
    canvas = torch.zeros(c, s * h + 2 * s, s * w + 2 * s, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            scores = torch.stack([(q[:, i : i + k, j : j + k] * p).sum() for p in keys])
            weights = torch.softmax(10 * scores, dim=0)
            for wt, patch in zip(weights, big):
                canvas[:, s * i : s * i + s * k, s * j : s * j + s * k] += wt * patch
    return canvas[:, s : s + s * h, s : s + s * w] / 6  # transposed-conv padding s crops the border


def test_non_local_attention_is_a_row_softmax_over_all_positions() -> None:
    torch.manual_seed(0)
    att = NonLocalAttention(channel=6).double()
    x = _rand(2, 6, 3, 5)
    probs = att.attention_probs(x)
    assert probs.shape == (2, 15, 15)
    torch.testing.assert_close(probs.sum(dim=2), torch.ones(2, 15, dtype=torch.float64))
    value = att.conv_assembly(x).flatten(2)  # (N, C, HW)
    expected = torch.einsum("nqk,nck->ncq", probs, value).view(2, 6, 3, 5)
    torch.testing.assert_close(att(x), expected)


def test_official_attention_width_is_128_whatever_n_feats() -> None:
    with pytest.raises(ConfigError, match="attention_channels=None"):
        CSNLN(scale=2, n_feats=16, depth=1)  # the unmodified official class cannot run this either
    patched = CSNLN(scale=2, n_feats=16, depth=1, attention_channels=None)
    msp = patched.SEM.multi_source_projection
    assert msp.up_attention.conv_assembly[0].weight.shape == (16, 16, 1, 1)
    assert msp.down_attention.conv_match1[0].weight.shape == (8, 16, 1, 1)
    # with n_feats = 128 the official and the patched variants are the same network
    official = {k: v.shape for k, v in CSNLN(scale=4, n_feats=128, depth=1).state_dict().items()}
    follow = {k: v.shape for k, v in CSNLN(scale=4, n_feats=128, depth=1, attention_channels=None).state_dict().items()}
    assert official == follow
    assert official["SEM.multi_source_projection_2.up_attention.conv_match_1.0.weight"] == (64, 128, 1, 1)


def test_one_sem_cell_is_shared_over_depth() -> None:
    c = 8
    shallow = CSNLN(scale=3, n_feats=c, depth=1, attention_channels=None)
    deep = CSNLN(scale=3, n_feats=c, depth=3, attention_channels=None)
    assert count_parameters(deep) - count_parameters(shallow) == 2 * c * 3 * 3 * 3  # only the tail grows
    assert sum(isinstance(m, RecurrentProjection) for m in deep.modules()) == 1
    calls: list[int] = []
    deep.SEM.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        deep(torch.rand(1, 3, 6, 6))
    assert len(calls) == 3


def test_meanshift_is_frozen_as_in_the_official_common_py() -> None:
    model = create_model("csnln", 2, tiny=True)
    assert count_parameters(model) - count_parameters(model, trainable_only=True) == 24


def test_paper_parameter_counts() -> None:
    # golden/README.md table (official class, n_feats 128, depth 12)
    for scale, expected in ((2, 3_061_289), (3, 6_010_409), (4, 6_568_627)):
        assert count_parameters(create_model("csnln", scale)) == expected


@pytest.mark.parametrize("scale,hw", [(2, (13, 10)), (3, (12, 10)), (4, (12, 9))])
def test_lr_size_not_divisible_by_the_attention_factor_is_a_clear_error(scale: int, hw: tuple[int, int]) -> None:
    model = create_model("csnln", scale, tiny=True)
    with pytest.raises(DataError, match="divisible"):
        model(torch.rand(1, 3, *hw))


def test_registry_entry() -> None:
    entry = get_model_entry("csnln")
    assert entry.scales == (2, 3, 4)
    assert not entry.tile_safe
    assert entry.input.color == "rgb" and entry.input.pixel_max == 1.0 and not entry.input.pre_upsample
    assert entry.extra["official_test_forward"] is forward_chop


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_chop_stitches_exactly_for_a_local_function(scale: int) -> None:
    """With a pixel-local ``fn`` the official quadrant split (recursion included) is invisible."""
    x = _rand(1, 3, 61, 47)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=scale, mode="nearest") * 2 - 1

    torch.testing.assert_close(forward_chop(fn, x, scale, min_size=1000), fn(x), rtol=0, atol=0)


def test_forward_chop_runs_csnln_on_quadrants() -> None:
    torch.manual_seed(0)
    model = create_model("csnln", 3, tiny=True).eval()
    x = torch.rand(1, 3, 28, 26)  # not divisible by 3: the whole-image forward refuses it, the quadrants work
    with torch.no_grad():
        out = forward_chop(model, x, 3)
        first = model(x[:, :, :27, :24])  # quadrant 28//2 + 10 = 24 -> 27 (next multiple of 3), 13 + 10 = 23 -> 24
    assert out.shape == (1, 3, 84, 78)
    torch.testing.assert_close(out[:, :, :42, :39], first[:, :, :42, :39], rtol=0, atol=0)
    with pytest.raises(DataError, match="larger LR input"):
        forward_chop(model, torch.rand(1, 3, 20, 20), 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_in_scale_ablation_keeps_the_weights_and_drops_cross_scale_attention(scale: int) -> None:
    """Chapter 6: ``cross_scale=False`` puts an in-scale attention of the same size where CS-NL was."""
    from sr_lib.models.csnln import CrossScaleAttention, NonLocalAttention

    torch.manual_seed(0)
    cs = create_model("csnln", scale, options={"n_feats": 8, "depth": 1, "attention_channels": None}).eval()
    ins = create_model("csnln", scale, options={"n_feats": 8, "depth": 1, "attention_channels": None,
                                                "cross_scale": False}).eval()
    assert count_parameters(ins) == count_parameters(cs)  # the attentions' 1x1 embeddings have the same shapes
    modules = list(ins.modules())
    assert not any(isinstance(m, CrossScaleAttention) for m in modules)
    assert sum(isinstance(m, NonLocalAttention) for m in modules) == 2 * (2 if scale == 4 else 1)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        y_cs, y_in = cs(x), ins(x)
    assert y_in.shape == y_cs.shape == (1, 3, 12 * scale, 12 * scale) and not torch.allclose(y_in, y_cs)
