"""Inference protocols: x8 self-ensemble, tiled inference (exact for convolutional networks, not for global
pooling), and the official quadrant ``forward_chop``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sr_lib.errors import ConfigError, DataError
from sr_lib.inference import forward_chop, self_ensemble, tiled_forward
from sr_lib.models import create_model, get_model_entry, list_models
from sr_lib.models.blocks import CALayer

# Receptive-field radius of tiny edsr-baseline (2 blocks) in LR pixels: head 1 + 2 x 2 + body conv 1 + upsampler
# conv 1 + (x4: 1/2) + tail 1/scale < 8.
TINY_EDSR_RADIUS = 8


def _tiny_edsr(scale: int) -> nn.Module:
    torch.manual_seed(scale)
    return create_model("edsr-baseline", scale, tiny=True).double().eval()


def _lr(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 255


class ToyCA(nn.Module):
    """RCAN-like toy: conv -> channel attention (global average pooling) -> sub-pixel x2 upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 16, 3, padding=1)
        self.ca = CALayer(16, reduction=4)
        self.up = nn.Sequential(nn.Conv2d(16, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.ca(self.head(x)))


def _toy_ca() -> nn.Module:
    torch.manual_seed(0)
    return ToyCA().double().eval()


# ----------------------------------------------------------------------------------------------------------------
# self-ensemble


def _dihedral_reference(fn, x: torch.Tensor) -> torch.Tensor:
    """Independent formulation: mean over the 4 rotations, with and without a horizontal flip."""
    outs = []
    for flip in (False, True):
        for k in range(4):
            t = torch.rot90(x.flip(-1) if flip else x, k, dims=(-2, -1))
            y = torch.rot90(fn(t), -k, dims=(-2, -1))
            outs.append(y.flip(-1) if flip else y)
    return torch.stack(outs).mean(0)


def test_self_ensemble_is_the_dihedral_mean() -> None:
    model = _tiny_edsr(3)
    x = _lr(1, 9, 7)  # non-square: catches a transpose that is not undone
    with torch.no_grad():
        ours = self_ensemble(model, x)
        torch.testing.assert_close(ours, _dihedral_reference(model, x), rtol=0, atol=1e-9)
        assert ours.shape == (1, 3, 27, 21)
        assert (ours - model(x)).abs().max() > 1e-3  # a random network is not equivariant: the ensemble matters


def test_self_ensemble_is_equivariant_and_per_image() -> None:
    model = _tiny_edsr(2)
    x = _lr(2, 8, 6)
    with torch.no_grad():
        out = self_ensemble(model, x)
        # the ensemble itself commutes with every transform of the group
        torch.testing.assert_close(self_ensemble(model, x.flip(-2)), out.flip(-2), rtol=0, atol=1e-9)
        torch.testing.assert_close(self_ensemble(model, x.transpose(-2, -1)), out.transpose(-2, -1), rtol=0, atol=1e-9)
        # batch items are averaged separately (the official forward_x8 would mix them)
        torch.testing.assert_close(out[1:], self_ensemble(model, x[1:]), rtol=0, atol=1e-9)


def test_self_ensemble_of_an_equivariant_function_is_the_function() -> None:
    def nearest_x2(t: torch.Tensor) -> torch.Tensor:
        return t.repeat_interleave(2, -1).repeat_interleave(2, -2)

    x = _lr(1, 5, 4)
    torch.testing.assert_close(self_ensemble(nearest_x2, x), nearest_x2(x), rtol=1e-15, atol=0)
    with pytest.raises(DataError, match="NCHW"):
        self_ensemble(nearest_x2, x[0])


# ----------------------------------------------------------------------------------------------------------------
# tiled inference


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_whole_image_for_a_convolutional_model(scale: int) -> None:
    model = _tiny_edsr(scale)
    x = _lr(2, 23, 19)  # not a multiple of the tile: partial tiles at the right and bottom borders, batch of 2
    with torch.no_grad():
        whole = model(x)
        tiled = tiled_forward(model, x, scale, tile=10, overlap=TINY_EDSR_RADIUS)  # 3 x 2 tiles
        assert tiled.shape == whole.shape == (2, 3, 23 * scale, 19 * scale)
        assert (tiled - whole).abs().max().item() < 1e-10
        # a single tile larger than the image is just the whole image
        assert (tiled_forward(model, x, scale, tile=64, overlap=0) - whole).abs().max().item() < 1e-10
        # too little context is visibly different: the test above is not vacuous
        assert (tiled_forward(model, x, scale, tile=10, overlap=2) - whole).abs().max().item() > 1e-3


def test_tiled_differs_for_global_pooling() -> None:
    model = _toy_ca()
    x = _lr(1, 20, 18)
    with torch.no_grad():
        whole = model(x)
        tiled = tiled_forward(model, x, 2, tile=8, overlap=8)  # more than the 2-pixel conv radius
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() > 1e-6  # channel attention pools over each tile, not the image


def test_tile_safe_flags_of_this_family() -> None:
    for name in list_models():
        entry = get_model_entry(name)
        if entry.family == "edsr":
            assert entry.tile_safe, name


def test_tiled_forward_validates_its_arguments() -> None:
    model = _tiny_edsr(2)
    x = _lr(1, 6, 6)
    for tile, overlap in [(0, 2), (-4, 2), (4, -1), (4.0, 2), (4, 1.5)]:
        with pytest.raises(ConfigError):
            tiled_forward(model, x, 2, tile=tile, overlap=overlap)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scale"):
        tiled_forward(model, x, 0, tile=4, overlap=2)
    with pytest.raises(ConfigError, match="x3"):
        tiled_forward(model, x, 3, tile=4, overlap=2)  # fn is a x2 model
    with pytest.raises(DataError, match="NCHW"):
        tiled_forward(model, x[0], 2, tile=4, overlap=2)


# ----------------------------------------------------------------------------------------------------------------
# official forward_chop


class _Counting:
    def __init__(self, fn) -> None:
        self.fn, self.sizes = fn, []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        return self.fn(x)


@pytest.mark.parametrize("scale,h,w", [(2, 30, 26), (3, 25, 23), (4, 27, 24)])
def test_forward_chop_equals_whole_image_when_shave_covers_the_receptive_field(scale: int, h: int, w: int) -> None:
    model = _tiny_edsr(scale)
    x = _lr(2, h, w)
    counting = _Counting(model)
    with torch.no_grad():
        whole = model(x)
        chopped = forward_chop(counting, x, scale)  # official defaults: shave 10 >= radius 8
        assert (chopped - whole).abs().max().item() < 1e-10
        assert counting.sizes == [(h // 2 + 10, w // 2 + 10)] * 4  # always four quadrants, even for small images
        assert (forward_chop(model, x, scale, shave=2) - whole).abs().max().item() > 1e-3


def test_forward_chop_recursion() -> None:
    model = _tiny_edsr(2)
    x = _lr(1, 50, 46)
    counting = _Counting(model)
    with torch.no_grad():
        out = forward_chop(counting, x, 2, min_size=800)
        # level 1: 35 x 33 = 1155 >= 800 pixels -> chop again; level 2: 27 x 26 = 702 < 800 -> run
        assert counting.sizes == [(27, 26)] * 16
        assert (out - model(x)).abs().max().item() < 1e-10

    # min_size so small that quadrants stop shrinking (official: endless recursion): stops at 20 x 20
    def local_x2(t: torch.Tensor) -> torch.Tensor:  # cheap, receptive-field radius 1, zero padding
        return F.avg_pool2d(t, 3, stride=1, padding=1).repeat_interleave(2, -1).repeat_interleave(2, -2)

    counting = _Counting(local_x2)
    out = forward_chop(counting, x[..., :22, :22], 2, min_size=1)
    assert counting.sizes == [(20, 20)] * 64  # 22 -> 21 -> 20 -> 20: three levels
    assert (out - local_x2(x[..., :22, :22])).abs().max().item() < 1e-10


def test_forward_chop_stitching_follows_the_official_quadrants() -> None:
    """With a non-local model each output block is the matching block of *its* quadrant's output."""
    model = _toy_ca()
    s, h, w, shave = 2, 41, 35, 10  # odd sizes; h - h//2 >= shave (else the official slicing breaks)
    x = _lr(1, h, w)
    hs, ws, hh, wh = h // 2 + shave, w // 2 + shave, h // 2, w // 2
    with torch.no_grad():
        out = forward_chop(model, x, s)
        tl = model(x[..., :hs, :ws])
        tr = model(x[..., :hs, w - ws :])
        bl = model(x[..., h - hs :, :ws])
        br = model(x[..., h - hs :, w - ws :])
    torch.testing.assert_close(out[..., : s * hh, : s * wh], tl[..., : s * hh, : s * wh], rtol=0, atol=0)
    torch.testing.assert_close(out[..., : s * hh, s * wh :], tr[..., : s * hh, -s * (w - wh) :], rtol=0, atol=0)
    torch.testing.assert_close(out[..., s * hh :, : s * wh], bl[..., -s * (h - hh) :, : s * wh], rtol=0, atol=0)
    torch.testing.assert_close(out[..., s * hh :, s * wh :], br[..., -s * (h - hh) :, -s * (w - wh) :], rtol=0, atol=0)
    assert (out - model(x)).abs().max().item() > 1e-6  # not the whole-image function


def test_forward_chop_small_image_and_validation() -> None:
    model = _tiny_edsr(3)
    x = _lr(1, 12, 9)  # h - h//2 < shave: the official slicing breaks; here quadrants are clipped
    with torch.no_grad():
        assert (forward_chop(model, x, 3) - model(x)).abs().max().item() < 1e-10
    for kwargs in ({"shave": -1}, {"min_size": 0}):
        with pytest.raises(ConfigError):
            forward_chop(model, x, 3, **kwargs)
    with pytest.raises(ConfigError, match="x2"):
        forward_chop(model, x, 2)


def test_evaluation_with_tiles_equals_whole_image_for_a_tile_safe_model() -> None:
    """End to end through sr_lib.evaluate: tiled SRCNN (tile-safe) scores exactly as the whole image."""
    from sr_lib.evaluate import evaluate_model

    torch.manual_seed(0)
    net = create_model("srcnn", 3, tiny=True)
    whole = evaluate_model("srcnn", 3, ["Demo"], model=net)
    tiled = evaluate_model("srcnn", 3, ["Demo"], model=net, tile=64, tile_overlap=16)
    for name, score in whole["datasets"]["Demo"]["per_image"].items():  # float32: rare last-bit differences
        assert tiled["datasets"]["Demo"]["per_image"][name]["psnr"] == pytest.approx(score["psnr"], abs=1e-3)
    plus = evaluate_model("bicubic", 3, ["Demo"], self_ensemble=True)
    assert plus["provenance"]["config"]["self_ensemble"] is True
