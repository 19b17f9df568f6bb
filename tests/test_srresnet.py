"""SRResNet (BN / IN / PReLU variants) and the SRGAN discriminator: structure beyond the golden files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sr_lib.errors import ConfigError
from sr_lib.models import create_model, get_model_entry, list_models
from sr_lib.complexity import count_parameters
from sr_lib.models.official import get_port
from sr_lib.models.srresnet import SRGANDiscriminator, SRResNet


@pytest.mark.parametrize("name", ["srresnet", "srresnet-in"])
def test_paper_configuration_has_official_parameter_count(name: str) -> None:
    assert count_parameters(create_model(name, 4)) == 1_546_752


def test_prelu_variant_is_the_paper_structure() -> None:
    model = create_model("srresnet-prelu", 4)
    prelus = [n for n, m in model.named_modules() if isinstance(m, nn.PReLU)]
    # one after the first conv, one inside each of the 16 blocks, one after each sub-pixel stage
    assert len(prelus) == 1 + 16 + 2
    assert not any(isinstance(m, nn.LeakyReLU) for m in model.modules())
    assert count_parameters(model) == 1_546_752 + len(prelus)
    keys = set(model.state_dict())
    assert {"relu.weight", "residual.15.relu.weight", "upscale4x.2.weight", "upscale4x.5.weight"} <= keys
    assert isinstance(model.residual[0].bn1, nn.BatchNorm2d)


def test_norm_variants_use_official_key_names() -> None:
    bn = set(SRResNet(nf=8, nb=1, norm="batch").state_dict())
    inn = set(SRResNet(nf=8, nb=1, norm="instance").state_dict())
    assert "residual.0.bn1.running_mean" in bn and "bn_mid.running_var" in bn
    assert "residual.0.in1.weight" in inn and "bn_mid.weight" in inn  # official: mid norm keeps the name bn_mid
    assert not any("running" in k for k in inn)


def test_instance_norm_is_per_image_so_not_tile_safe() -> None:
    assert get_model_entry("srresnet-in").tile_safe is False
    assert get_model_entry("srresnet").tile_safe is True
    x = torch.rand(1, 3, 8, 48)
    far = x.clone()
    far[..., 36:] = 1.0  # far outside the receptive field of the left-most output pixels
    for norm, depends_on_far_pixels in (("batch", False), ("instance", True)):
        torch.manual_seed(0)
        model = SRResNet(nf=8, nb=1, norm=norm).eval()
        with torch.no_grad():
            left, left_far = model(x)[..., :16], model(far)[..., :16]
        assert torch.equal(left, left_far) is not depends_on_far_pixels, norm


def test_generator_is_x4_with_a_one_stage_x2_variant_and_rgb() -> None:
    entry = get_model_entry("srresnet")
    assert entry.scales == (2, 4) and entry.input.color == "rgb" and entry.input.pixel_max == 1.0
    x2, x4 = SRResNet(nf=8, nb=1, scale=2), SRResNet(nf=8, nb=1, scale=4)
    assert set(x2.state_dict()) == set(x4.state_dict()) - {"upscale4x.3.weight"}  # the second stage only
    assert x2(torch.rand(1, 3, 5, 7)).shape == (1, 3, 10, 14)
    with pytest.raises(ConfigError, match="available: x2, x4"):
        create_model("srresnet", 3)
    with pytest.raises(ConfigError, match="x2 or x4"):
        SRResNet(scale=8)
    with pytest.raises(ConfigError, match="normalisation"):
        SRResNet(norm="group")  # type: ignore[arg-type]


def test_all_generator_convolutions_are_bias_free() -> None:
    model = SRResNet(nf=8, nb=2)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


# --- discriminator ---------------------------------------------------------------------------------------------


def test_discriminator_is_not_a_registered_sr_model() -> None:
    assert not any("srgan" in name for name in list_models())
    assert get_port("srgan_d").source.endswith(":_NetD")


def test_discriminator_paper_configuration() -> None:
    with torch.device("meta"):  # structure only: skip initialising 26M weights
        d, paper = SRGANDiscriminator(), SRGANDiscriminator(strided_kernel=3)
    assert count_parameters(d) == 26_000_705
    assert d.fc1.weight.shape == (1024, 512 * 6 * 6)
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert [c.kernel_size[0] for c in convs] == [3, 4] * 4  # official; the paper's are all 3x3
    assert all(m.kernel_size == (3, 3) for m in paper.features if isinstance(m, nn.Conv2d))
    bns = [m for m in d.features if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 7  # no BN after the first convolution


def test_discriminator_outputs_probabilities_and_checks_input_size() -> None:
    torch.manual_seed(0)
    d = SRGANDiscriminator(nf=4, fc=8).eval()
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        p, z = d(x), d.logits(x)
    assert p.shape == (3,) and torch.allclose(p, torch.sigmoid(z))
    assert ((p > 0) & (p < 1)).all()
    with pytest.raises(ConfigError, match="96x96"):
        d(torch.rand(1, 3, 64, 64))
    d64 = SRGANDiscriminator(nf=4, fc=8, input_size=64)
    assert d64(torch.rand(2, 3, 64, 64)).shape == (2,)
    with pytest.raises(ConfigError, match="multiple of 16"):
        SRGANDiscriminator(input_size=90)


def test_discriminator_trains() -> None:
    torch.manual_seed(0)
    d = SRGANDiscriminator(nf=4, fc=8).train()
    d.logits(torch.rand(2, 3, 96, 96)).sum().backward()
    assert all(p.grad is not None for p in d.parameters())


def test_official_port_rejects_unknown_arguments() -> None:
    with pytest.raises(ConfigError, match="nc"):
        get_port("srresnet").build({"nf": 8, "nc": 3})


def test_discriminator_output_is_a_probability_or_the_logits() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    d = SRGANDiscriminator(nf=4, fc=8, input_size=32).eval()
    logits = SRGANDiscriminator(nf=4, fc=8, input_size=32, output="logits").eval()
    logits.load_state_dict(d.state_dict())
    assert torch.allclose(d(x), torch.sigmoid(logits(x))) and torch.equal(logits(x), d.logits(x))
    with pytest.raises(ConfigError, match="logits"):
        SRGANDiscriminator(output="logit")  # type: ignore[arg-type]
