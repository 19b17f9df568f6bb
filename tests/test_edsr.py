"""EDSR / EDSR-baseline / MDSR / MDSR-baseline specifics beyond the generic golden, manifest and registry tests:
paper-preset parameter counts, MDSR branch selection, frozen MeanShift, official weight URLs."""

from __future__ import annotations

import json
import re

import pytest
import torch

from conftest import require_dir
from sr_lib.errors import ConfigError
from sr_lib.models import create_model, get_model_entry
from sr_lib.models.blocks import MeanShift
from sr_lib.models.edsr import EDSR, MDSR, OFFICIAL_WEIGHTS, official_weights_url
from sr_lib.models.official import get_port


def _meta_model(name: str, scale: int) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return create_model(name, scale)


def _count(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# golden/README.md "Parameter counts of the paper configurations"
EDSR_COUNTS = {
    ("edsr", 2): 40_729_627,
    ("edsr", 3): 43_680_027,
    ("edsr", 4): 43_089_947,
    ("edsr-baseline", 2): 1_369_883,
    ("edsr-baseline", 3): 1_554_523,
    ("edsr-baseline", 4): 1_517_595,
}
MDSR_COUNTS = {  # total of the multi-scale model, and the parameters one scale uses
    "mdsr": (7_954_011, {2: 6_506_523, 3: 6_691_163, 4: 6_654_235}),
    "mdsr-baseline": (3_227_227, {2: 1_779_739, 3: 1_964_379, 4: 1_927_451}),
}


@pytest.mark.parametrize("name,scale", list(EDSR_COUNTS), ids=[f"{n}-x{s}" for n, s in EDSR_COUNTS])
def test_edsr_preset_parameter_counts(name: str, scale: int) -> None:
    model = _meta_model(name, scale)
    assert _count(model) == EDSR_COUNTS[name, scale]
    assert _count(model, trainable_only=True) == EDSR_COUNTS[name, scale] - 24  # MeanShift frozen


@pytest.mark.parametrize("name", list(MDSR_COUNTS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_mdsr_preset_is_the_full_multiscale_model(name: str, scale: int) -> None:
    total, used = MDSR_COUNTS[name]
    model = _meta_model(name, scale)
    assert isinstance(model, MDSR) and model.scales == (2, 3, 4)
    assert model.scale == scale and model.scale_idx == scale - 2  # official: index into args.scale
    assert _count(model) == total
    i = model.scale_idx
    idle = sum(p.numel() for n, p in model.named_parameters() if re.match(rf"(pre_process|upsample)\.(?!{i}\.)", n))
    assert total - idle == used[scale]


def test_meanshift_is_frozen_and_official() -> None:
    model = create_model("edsr-baseline", 2, tiny=True)
    for module in (model.sub_mean, model.add_mean):
        assert isinstance(module, MeanShift)
        assert not any(p.requires_grad for p in module.parameters())
    assert torch.equal(model.sub_mean.weight.view(3, 3), torch.eye(3))
    assert model.sub_mean.bias[0].item() == -114.44400024414062  # float32 -255 * 0.4488, as in the golden files
    assert torch.equal(model.add_mean.bias, -model.sub_mean.bias)


def test_mdsr_set_scale_validates_and_selects_branch() -> None:
    model = MDSR(n_resblocks=1, n_feats=8, scales=(2, 3, 4))
    x = torch.rand(1, 3, 5, 4) * 255
    for s in (4, 2, 3):
        model.set_scale(s)
        assert model(x).shape == (1, 3, 5 * s, 4 * s)
    with pytest.raises(ConfigError, match="no x8 branch"):
        model.set_scale(8)
    with pytest.raises(ConfigError, match="no x1 branch"):
        model.set_scale(1)  # an official-style *index* is rejected, not silently used
    assert len(model.tail) == 1 and len(model.upsample) == 3 and len(model.pre_process) == 3  # tail is shared


def test_unsupported_scale_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="x5"):
        EDSR(scale=5)
    with pytest.raises(ConfigError, match="x6"):
        MDSR(n_resblocks=1, n_feats=8, scales=(2, 6))


def test_mdsr_global_skip_adds_pre_process_output() -> None:
    torch.manual_seed(0)
    model = MDSR(n_resblocks=1, n_feats=8, scales=(2,)).double()
    with torch.no_grad():
        for p in model.body.parameters():
            p.zero_()  # body(x) = 0, so the upsampler sees exactly the skip
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64) * 255
    with torch.no_grad():
        feats = model.pre_process[0](model.head(model.sub_mean(x)))
        expected = model.add_mean(model.tail(model.upsample[0](feats)))
        torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


def test_mdsr_each_branch_selection_reproduces_golden_outputs() -> None:
    golden_path = require_dir("SR_GOLDEN_DIR", "mdsr", "golden_tiny_x234.pt")
    golden = torch.load(golden_path, weights_only=True)
    port = get_port("mdsr")
    model = port.build(golden["config"]["constructor_args"])
    model.load_state_dict(port.from_official(golden["state_dict"]), strict=True)
    model = model.double().eval()
    assert isinstance(model, MDSR)
    assert set(golden["output"]) == {"x2", "x3", "x4"}
    with torch.no_grad():
        for key in ("x4", "x2", "x3"):  # any order: the branch state is just an index
            model.set_scale(int(key[1:]))
            torch.testing.assert_close(model(golden["input"]), golden["output"][key], rtol=1e-5, atol=1e-6)
        # the port's run returns the whole dict and restores the selected branch
        model.set_scale(3)
        outputs = port.run(model, golden["input"])["output"]
    assert model.scale == 3
    for key, ref in golden["output"].items():
        torch.testing.assert_close(outputs[key], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "golden_dir,manifest,name,scale",
    [
        ("edsr", "manifest_x2_paper.json", "edsr", 2),
        ("edsr", "manifest_x3_paper.json", "edsr", 3),
        ("edsr", "manifest_x4_paper.json", "edsr", 4),
        ("edsr_baseline", "manifest_x2_paper.json", "edsr-baseline", 2),
        ("edsr_baseline", "manifest_x3_paper.json", "edsr-baseline", 3),
        ("edsr_baseline", "manifest_x4_paper.json", "edsr-baseline", 4),
        ("mdsr", "manifest_x234_paper.json", "mdsr", 3),
        ("mdsr", "manifest_x234_baseline.json", "mdsr-baseline", 4),
    ],
)
def test_registry_preset_matches_official_manifest_and_url(
    golden_dir: str, manifest: str, name: str, scale: int
) -> None:
    """The registry preset (not only the port) has the official keys/shapes, and ``url`` is the official one."""
    data = json.loads(require_dir("SR_GOLDEN_DIR", golden_dir, manifest).read_text())
    model = _meta_model(name, scale)
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert got == [(k, list(shape)) for k, shape, *_ in data["state_dict"]]  # same order too
    assert model.url == data["url_attribute"] == official_weights_url(name, scale)


def test_official_weights_table() -> None:
    assert len(OFFICIAL_WEIGHTS) == 8
    for key, url in OFFICIAL_WEIGHTS.items():
        assert re.fullmatch(r"r\d+f\d+(x[234])?", key)
        assert re.fullmatch(r"https://cv\.snu\.ac\.kr/research/EDSR/models/[a-z_0-9]+-[0-9a-f]{8}\.pt", url)
    assert EDSR(scale=2, n_resblocks=3, n_feats=16).url is None  # no checkpoint for other configurations
    with pytest.raises(ConfigError):
        official_weights_url("rcan", 2)
    with pytest.raises(ConfigError):
        official_weights_url("edsr", 8)


@pytest.mark.parametrize("name", ["edsr", "edsr-baseline", "mdsr", "mdsr-baseline"])
def test_entries_are_tile_safe_rgb_255(name: str) -> None:
    entry = get_model_entry(name)
    assert entry.tile_safe and entry.scales == (2, 3, 4)
    idle = entry.unused_parameters(3)
    assert idle == (() if name.startswith("edsr") else ("pre_process.0.*", "upsample.0.*", "pre_process.2.*", "upsample.2.*"))
    assert (entry.input.color, entry.input.pre_upsample, entry.input.pixel_max) == ("rgb", False, 255.0)
