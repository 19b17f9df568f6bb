"""MSRN specifics: the multi-scale residual block's cross connections, the hierarchical feature fusion order of
both official variants, the presets, and parameter counts of the paper configurations."""

from __future__ import annotations

import pytest
import torch

from sr_lib.errors import ConfigError
from sr_lib.models import get_model_entry
from sr_lib.complexity import count_parameters
from sr_lib.models.msrn import MSRB, MSRN, MSRNY, MSRNConfig, MSRNYConfig


def _capture_inputs(module: torch.nn.Module, names: list[str]) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}
    for name in names:
        sub = module.get_submodule(name)
        sub.register_forward_hook(lambda m, inp, out, name=name: seen.__setitem__(name, inp[0].detach().clone()))
    return seen


def test_msrb_kernels_and_widths() -> None:
    c = 6
    block = MSRB(c)
    assert block.conv_3_1.kernel_size == (3, 3) and block.conv_3_2.kernel_size == (3, 3)
    assert block.conv_5_1.kernel_size == (5, 5) and block.conv_5_2.kernel_size == (5, 5)
    assert (block.conv_3_1.in_channels, block.conv_3_1.out_channels) == (c, c)
    assert (block.conv_5_1.in_channels, block.conv_5_1.out_channels) == (c, c)
    assert (block.conv_3_2.in_channels, block.conv_3_2.out_channels) == (2 * c, 2 * c)
    assert (block.conv_5_2.in_channels, block.conv_5_2.out_channels) == (2 * c, 2 * c)
    confusion = block.confusion
    assert (confusion.in_channels, confusion.out_channels, confusion.kernel_size) == (4 * c, c, (1, 1))


def test_msrb_cross_connections_and_local_residual() -> None:
    torch.manual_seed(0)
    c = 5
    block = MSRB(c).double()
    x = torch.randn(2, c, 9, 7, dtype=torch.float64)
    seen = _capture_inputs(block, ["conv_3_2", "conv_5_2", "confusion"])
    y = block(x)
    s1, p1 = torch.relu(block.conv_3_1(x)), torch.relu(block.conv_5_1(x))
    crossed = torch.cat([s1, p1], 1)  # both second-layer convolutions read both scales
    assert seen["conv_3_2"].shape[1] == 2 * c and seen["conv_5_2"].shape[1] == 2 * c
    torch.testing.assert_close(seen["conv_3_2"], crossed)
    torch.testing.assert_close(seen["conv_5_2"], crossed)
    s2, p2 = torch.relu(block.conv_3_2(crossed)), torch.relu(block.conv_5_2(crossed))
    assert seen["confusion"].shape[1] == 4 * c
    torch.testing.assert_close(seen["confusion"], torch.cat([s2, p2], 1))
    torch.testing.assert_close(y, block.confusion(torch.cat([s2, p2], 1)) + x)
    # with the bottleneck zeroed, the block is the identity (local residual learning)
    torch.nn.init.zeros_(block.confusion.weight)
    torch.nn.init.zeros_(block.confusion.bias)
    torch.testing.assert_close(block(x), x)


def test_rgb_variant_fuses_all_block_outputs_head_last() -> None:
    torch.manual_seed(0)
    model = MSRN(MSRNConfig(scale=2, n_feats=4, n_blocks=3)).double().eval()
    x = torch.rand(1, 3, 8, 6, dtype=torch.float64) * 255
    seen = _capture_inputs(model, ["tail.0"])
    with torch.no_grad():
        model(x)
        m = model.head(model.sub_mean(x))
        outs = []
        for block in model.body:
            m = block(m)
            outs.append(m)
        expected = torch.cat(outs + [model.head(model.sub_mean(x))], 1)
    assert seen["tail.0"].shape[1] == 4 * (3 + 1)
    torch.testing.assert_close(seen["tail.0"], expected)


def test_y_variant_fuses_all_block_outputs_head_first() -> None:
    torch.manual_seed(0)
    model = MSRNY(MSRNYConfig(scale=3, n_feats=4, n_blocks=3)).double().eval()
    x = torch.rand(1, 1, 8, 6, dtype=torch.float64)
    seen = _capture_inputs(model, ["bottle"])
    with torch.no_grad():
        out = model(x)
        m0 = model.conv_input(x)
        outs, m = [m0], m0
        for i in (1, 2, 3):
            m = getattr(model, f"residual{i}")(m)
            outs.append(m)
    assert out.shape == (1, 1, 24, 18)
    torch.testing.assert_close(seen["bottle"], torch.cat(outs, 1))


def test_y_variant_official_key_names_and_bias_flag() -> None:
    keys = set(MSRNY(MSRNYConfig(scale=2, n_feats=4, n_blocks=2)).state_dict())
    for k in ("conv_input.weight", "residual1.0.conv_3_1.weight", "residual2.0.confusion.bias", "bottle.weight",
              "conv.weight", "conv_output.bias"):
        assert k in keys
    assert "residual3.0.conv_3_1.weight" not in keys
    no_bias = set(MSRNY(MSRNYConfig(scale=2, n_feats=4, n_blocks=2, bias=False)).state_dict())
    assert keys - no_bias == {"conv_input.bias", "residual1.0.confusion.bias", "residual2.0.confusion.bias",
                              "bottle.bias", "conv.bias", "conv_output.bias"}


@pytest.mark.parametrize(
    "scale,rgb,y",
    [(2, 5_930_331, 5_891_073), (3, 6_114_971, 6_075_713), (4, 6_078_043, 6_334_209), (8, 6_225_755, 8_106_753)],
)
def test_paper_parameter_counts(scale: int, rgb: int, y: int) -> None:
    # RGB: golden/README.md table (MeanShift included); Y x2: papers/msrn.md (5,891,073). The Y network upsamples
    # in one sub-pixel step for every scale, hence its larger x4 / x8 counts.
    assert count_parameters(get_model_entry("msrn").build(scale)) == rgb
    assert count_parameters(get_model_entry("msrn-y").build(scale)) == y


def test_meanshift_trains_like_the_official_code() -> None:
    model = MSRN(MSRNConfig(scale=2, n_feats=4, n_blocks=1))
    assert model.sub_mean.weight.requires_grad and model.add_mean.bias.requires_grad
    frozen = MSRN(MSRNConfig(scale=2, n_feats=4, n_blocks=1, meanshift_trainable=False))
    assert not frozen.sub_mean.weight.requires_grad


def test_presets() -> None:
    rgb, y = get_model_entry("msrn"), get_model_entry("msrn-y")
    assert rgb.scales == y.scales == (2, 3, 4, 8)
    assert (rgb.input.color, rgb.input.pre_upsample, rgb.input.pixel_max) == ("rgb", False, 255.0)
    assert (y.input.color, y.input.pre_upsample, y.input.pixel_max) == ("y", False, 1.0)
    assert rgb.tile_safe and y.tile_safe


def test_tiled_inference_matches_whole_image() -> None:
    torch.manual_seed(0)
    model = get_model_entry("msrn").build_tiny(2).double().eval()
    x = torch.rand(1, 3, 20, 40, dtype=torch.float64) * 255
    with torch.no_grad():
        whole = model(x)
        left = model(x[..., :28])  # 28 LR columns; columns < 14 are farther than the receptive field from the cut
    torch.testing.assert_close(left[..., : 2 * 14], whole[..., : 2 * 14])


def test_bad_configs_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        MSRN(MSRNConfig(n_colors=1))
    with pytest.raises(ConfigError):
        MSRN(MSRNConfig(scale=5))
    with pytest.raises(ConfigError):
        MSRNY(MSRNYConfig(scale=6))


def test_ablations_plain_blocks_and_no_hierarchical_fusion() -> None:
    """Chapter 7: each MSRB becomes ``plain_blocks`` residual blocks (about the MSRB's weights at 10); without
    hierarchical fusion the tail reads only the last block's output."""
    from dataclasses import replace

    from sr_lib.models.blocks import ResBlock
    from sr_lib.models.msrn import PLAIN_BLOCKS_PER_MSRB

    torch.manual_seed(0)
    cfg = MSRNConfig(scale=2, n_feats=8, n_blocks=2)
    msrb_weights = sum(p.numel() for n, p in MSRN(cfg).body[0].named_parameters() if n.endswith("weight"))
    plain = MSRN(replace(cfg, plain_blocks=PLAIN_BLOCKS_PER_MSRB))
    unit = plain.body[0]
    assert len(unit) == PLAIN_BLOCKS_PER_MSRB and all(isinstance(b, ResBlock) for b in unit)
    plain_weights = sum(p.numel() for n, p in unit.named_parameters() if n.endswith("weight"))
    assert msrb_weights == 174 * 8**2 and plain_weights == 18 * 8**2 * PLAIN_BLOCKS_PER_MSRB
    flat = MSRN(replace(cfg, hierarchical_fusion=False)).eval()
    assert flat.tail[0].in_channels == 8
    x = torch.rand(1, 3, 6, 6) * 255
    with torch.no_grad():
        m = flat.body(flat.head(flat.sub_mean(x)))
        assert torch.allclose(flat(x), flat.add_mean(flat.tail(m)))
