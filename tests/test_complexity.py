"""Parameter and MAC counting on the meta device: hand-computed cases and the official counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sr_lib.complexity import (
    OFFICIAL_PARAM_COUNTS,
    build_on_meta,
    complexity_table,
    count_macs,
    count_macs_via,
    count_parameters,
    count_used_parameters,
    format_table,
    input_shape_for,
    model_complexity,
)
from sr_lib.errors import ConfigError
from sr_lib.models import get_model_entry


def test_single_convolution_by_hand() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    # every output pixel of every output channel: 3 input channels x 3 x 3 taps (the bias is not a MAC)
    assert count_macs(conv, (1, 3, 10, 12)) == 8 * 10 * 12 * (3 * 3 * 3)
    strided = nn.Conv2d(4, 6, 5, stride=2, padding=2, bias=False)
    assert count_macs(strided, (2, 4, 16, 16)) == 2 * 6 * 8 * 8 * (4 * 5 * 5)
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    assert count_macs(grouped, (1, 8, 5, 5)) == 8 * 5 * 5 * (2 * 3 * 3)
    linear = nn.Linear(7, 5)
    assert count_macs(linear, (3, 7)) == 3 * 7 * 5


def test_matmul_and_attention_are_counted() -> None:
    class Attn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, N, C)
            return torch.softmax(x @ x.transpose(1, 2), -1) @ x

    # two (N x C) @ (C x N) / (N x N) @ (N x C) products per batch element
    assert count_macs(Attn(), (2, 50, 16)) == 2 * (50 * 50 * 16 + 50 * 50 * 16)


def test_nothing_is_allocated_and_the_model_is_untouched() -> None:
    conv = nn.Conv2d(3, 64, 3, padding=1)
    before = conv.weight.detach().clone()
    # a 3 x 40000 x 40000 float input would need 19 GB: counted on the meta device instead
    assert count_macs(conv, (1, 3, 40_000, 40_000)) == 64 * 27 * 40_000 * 40_000
    assert conv.weight.device.type == "cpu" and torch.equal(conv.weight, before)
    assert conv.weight.grad is None


def test_srcnn_macs_per_pixel() -> None:
    # 9-5-5: 1*64*81 + 64*32*25 + 32*1*25 = 57,184 weights, each one MAC per HR pixel (biases excluded)
    row = model_complexity("srcnn", 3, lr_hw=(20, 30))
    assert row.input_shape == (1, 1, 60, 90)  # pre-upsampling network: the input is HR-size
    assert row.macs == 57_184 * 60 * 90
    assert row.params == 57_281 and row.params_used == 57_281


def test_input_convention() -> None:
    assert input_shape_for("vdsr", 4, (10, 20)) == (1, 1, 40, 80)
    assert input_shape_for("edsr", 4, (10, 20)) == (1, 3, 10, 20)


@pytest.mark.parametrize("official", OFFICIAL_PARAM_COUNTS, ids=lambda o: o.model)
def test_parameter_counts_equal_the_official_classes(official) -> None:
    model = build_on_meta(official.model, official.scale)
    assert count_parameters(model) == official.params


@pytest.mark.parametrize("name", ["mdsr", "mdsr-baseline", "san"])
def test_used_parameters_equal_the_official_used_counts(name) -> None:
    official = next(o for o in OFFICIAL_PARAM_COUNTS if o.model == name)
    model = build_on_meta(name, official.scale)
    assert count_used_parameters(model, (1, 3, 24, 24)) == official.params_used


def test_frozen_parameters_count_as_used() -> None:
    model = build_on_meta("edsr-baseline", 2)  # frozen MeanShift (24 parameters)
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - 24
    assert count_used_parameters(model, (1, 3, 8, 8)) == count_parameters(model)


def test_table_rows_and_format() -> None:
    rows = complexity_table(scale=3, lr_hw=(12, 16), models=["srcnn", "srresnet", "edsr-baseline"])
    by_name = {r.model: r for r in rows}
    assert not by_name["srresnet"].supported and "no x3 preset (scales: x2, x4)" in by_name["srresnet"].note
    assert by_name["edsr-baseline"].supported and by_name["edsr-baseline"].tile_safe
    assert by_name["edsr-baseline"].input == "RGB, LR, [0,255]"
    text = format_table(rows)
    assert text.splitlines()[0].startswith("| model |") and len(text.splitlines()) == 2 + len(rows)
    assert "srresnet" in format_table(rows, markdown=False)


def test_tile_safe_comes_from_the_registry() -> None:
    assert model_complexity("srresnet-in", 4, (8, 8)).tile_safe is get_model_entry("srresnet-in").tile_safe is False
    assert model_complexity("srresnet", 4, (8, 8)).tile_safe is True


def test_bad_lr_size() -> None:
    with pytest.raises(ConfigError):
        model_complexity("srcnn", 2, lr_hw=(0, 10))


def test_protocol_macs_count_each_tile() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)

    def quadrants(fn, x):  # four 8x8 calls and one 16x16 call
        for i in (0, 8):
            for j in (0, 8):
                fn(x[:, :, i:i + 8, j:j + 8])
        return fn(x)

    macs, calls = count_macs_via(conv, (1, 3, 16, 16), quadrants)
    assert calls == 5
    assert macs == 4 * count_macs(conv, (1, 3, 8, 8)) + count_macs(conv, (1, 3, 16, 16)) == 2 * 8 * 27 * 256
