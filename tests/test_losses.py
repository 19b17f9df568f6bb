"""SRGAN losses: VGG19 features in torchvision's layout, the perceptual (VGG content) loss, adversarial losses.

No VGG19 weights exist offline, so the code is tested with a random state dict in torchvision's format (the key
list is built here independently of the library). The deep layers use expanded tensors to keep the file tiny.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sr_lib.errors import ConfigError, WeightsError
from sr_lib.losses import (
    SRGAN_FEATURE_SCALE,
    VGG19_LAYERS,
    VGG19_URL,
    PerceptualLoss,
    VGG19Features,
    adversarial_generator_loss,
    discriminator_loss,
    load_vgg19_state_dict,
    srgan_generator_loss,
    vgg19_weights_path,
    vgg19_state_dict_shapes,
)

CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
CONV_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def torchvision_vgg19_random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    cin = 3
    for index, cout in zip(CONV_INDICES, CONV_WIDTHS):
        std = math.sqrt(2.0 / (9 * cin))
        if index < 10:  # blocks 1-2: genuinely random kernels
            sd[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * std
        else:  # deeper: one random value per output channel, expanded (tiny storage once saved)
            sd[f"features.{index}.weight"] = (torch.randn(cout, 1, 1, 1, generator=g) * std).expand(cout, cin, 3, 3)
        sd[f"features.{index}.bias"] = 0.01 * torch.randn(cout, generator=g)
        cin = cout
    for index, (fin, fout) in zip((0, 3, 6), ((25088, 4096), (4096, 4096), (4096, 1000))):
        sd[f"classifier.{index}.weight"] = torch.zeros(1, 1).expand(fout, fin)
        sd[f"classifier.{index}.bias"] = torch.zeros(fout)
    return sd


@pytest.fixture
def vgg_file(tmp_path: Path) -> Path:
    path = tmp_path / "vgg19.pth"
    torch.save(torchvision_vgg19_random_state_dict(), path)
    return path


def test_layer_indices_and_keys_are_torchvision_s() -> None:
    assert [VGG19_LAYERS[f"conv{b}_{j}"] for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
            for j in range(1, n + 1)] == list(CONV_INDICES)
    assert VGG19_LAYERS["relu5_4"] == 35 and VGG19_LAYERS["relu2_2"] == 8 and VGG19_LAYERS["pool5"] == 36
    expected = torchvision_vgg19_random_state_dict()
    assert {k: tuple(v.shape) for k, v in expected.items()} == vgg19_state_dict_shapes()
    features = VGG19Features("pool5").state_dict()
    assert sorted(features) == sorted(k for k in expected if k.startswith("features."))
    assert all(not p.requires_grad for p in VGG19Features("relu1_1").parameters())


def test_features_match_a_manual_vgg(vgg_file: Path) -> None:
    sd = load_vgg19_state_dict(vgg_file)
    vgg = VGG19Features("relu2_2").load_torchvision_state_dict(sd)
    x = torch.rand(2, 3, 16, 12)
    h = (x - MEAN) / STD
    h = F.relu(F.conv2d(h, sd["features.0.weight"], sd["features.0.bias"], padding=1))
    h = F.relu(F.conv2d(h, sd["features.2.weight"], sd["features.2.bias"], padding=1))
    h = F.max_pool2d(h, 2)
    h = F.relu(F.conv2d(h, sd["features.5.weight"], sd["features.5.bias"], padding=1))
    h = F.relu(F.conv2d(h, sd["features.7.weight"], sd["features.7.bias"], padding=1))
    torch.testing.assert_close(vgg(x), h)
    assert VGG19Features("VGG54").layer == "relu5_4" and VGG19Features("VGG22").layer == "relu2_2"


def test_perceptual_loss_is_feature_mse_with_optional_rescaling(vgg_file: Path) -> None:
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 16, 16)
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    loss = PerceptualLoss(vgg_file, layer="relu2_2")
    value = loss(sr, hr)
    assert loss(hr, hr) == 0
    torch.testing.assert_close(value, F.mse_loss(loss.vgg(sr), loss.vgg(hr)))
    scaled = PerceptualLoss(vgg_file, layer="relu2_2", feature_scale=SRGAN_FEATURE_SCALE)(sr, hr)
    torch.testing.assert_close(scaled, value / 12.75**2)
    value.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())  # VGG stays frozen


def test_default_is_vgg54_and_accepts_a_state_dict() -> None:
    loss = PerceptualLoss(torchvision_vgg19_random_state_dict())
    assert loss.vgg.layer == "relu5_4" and len(loss.vgg.features) == 36
    hr = torch.rand(1, 3, 32, 32)
    value = loss(hr.flip(-1), hr)
    assert torch.isfinite(value) and value > 0
    with pytest.raises(ConfigError, match="differ in shape"):
        loss(hr[..., :16], hr)


def test_missing_weights_say_where_to_download_them(tmp_path: Path) -> None:
    for weights in (None, tmp_path / "vgg19-dcbb9e9d.pth"):
        with pytest.raises(WeightsError, match="vgg19-dcbb9e9d.pth") as info:
            PerceptualLoss(weights)
        assert VGG19_URL in str(info.value) and "\n" not in str(info.value)


def test_bad_vgg_files_are_one_line_errors(tmp_path: Path) -> None:
    sd = torchvision_vgg19_random_state_dict()
    path = tmp_path / "bad.pth"
    cases = {
        "missing": {k: v for k, v in sd.items() if k != "features.34.bias"},
        "shape": {**sd, "features.0.weight": torch.zeros(64, 1, 3, 3)},
        "unexpected": {**sd, "features.1.weight": torch.zeros(1)},
    }
    for what, bad in cases.items():
        torch.save(bad, path)
        with pytest.raises(WeightsError, match="torchvision VGG19|shape") as info:
            load_vgg19_state_dict(path)
        assert "\n" not in str(info.value), what
    path.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a loadable"):
        load_vgg19_state_dict(path)
    named = tmp_path / "vgg19-00000000.pth"  # torchvision-style name: the hash prefix is checked
    torch.save(sd, named)
    with pytest.raises(WeightsError, match="does not match the published 00000000"):
        load_vgg19_state_dict(named)
    with pytest.raises(ConfigError, match="unknown VGG19 layer"):
        VGG19Features("relu6_1")


def test_adversarial_losses_are_the_bce_of_eq_2_and_6() -> None:
    torch.manual_seed(0)
    real, fake = torch.randn(5), torch.randn(5)
    ones, zeros = torch.ones(5), torch.zeros(5)
    torch.testing.assert_close(adversarial_generator_loss(fake), F.binary_cross_entropy(torch.sigmoid(fake), ones))
    torch.testing.assert_close(
        discriminator_loss(real, fake),
        F.binary_cross_entropy(torch.sigmoid(real), ones) + F.binary_cross_entropy(torch.sigmoid(fake), zeros),
    )
    content = torch.tensor(0.5)
    torch.testing.assert_close(srgan_generator_loss(content, fake), content + 1e-3 * adversarial_generator_loss(fake))
    # stable where the probabilities saturate
    assert torch.isfinite(adversarial_generator_loss(torch.tensor([-200.0])))
    torch.testing.assert_close(adversarial_generator_loss(torch.tensor([-200.0])), torch.tensor(200.0))


def test_vgg19_weights_are_found_and_checked_through_the_hub(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(WeightsError) as info:  # offline and not downloaded: where to put it, where to get it
        vgg19_weights_path()
    assert VGG19_URL in str(info.value) and "torchvision/vgg19-dcbb9e9d.pth" in str(info.value)
    assert "\n" not in str(info.value)
    fake = tmp_path / "w" / "torchvision" / "vgg19-dcbb9e9d.pth"
    fake.parent.mkdir(parents=True)
    torch.save(torchvision_vgg19_random_state_dict(), fake)
    with pytest.raises(WeightsError, match="does not match the published dcbb9e9dad569fff"):
        vgg19_weights_path(tmp_path / "w")  # the published file's full sha256 is checked
    with pytest.raises(WeightsError, match="does not match the published"):
        load_vgg19_state_dict(fake)
