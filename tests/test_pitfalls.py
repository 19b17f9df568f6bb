"""The other pipelines the protocol chapter measures (sr_lib.pitfalls) do what their docstrings say."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sr_lib import pitfalls
from sr_lib.color import luma
from sr_lib.degrade.bicubic import cubic
from sr_lib.errors import DataError
from sr_lib.metrics import shave, ssim


def _smooth_rgb(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / 8.0
    base = np.stack([np.sin(yy + c) * np.cos(xx * (c + 1)) for c in range(3)], axis=-1)
    return np.clip(128 + 90 * base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def test_keys_kernel():
    x = np.linspace(-3, 3, 121)
    np.testing.assert_array_equal(pitfalls.keys_kernel(x, -0.5), cubic(x))
    assert pitfalls.keys_kernel(np.array(0.25), -0.75) == pytest.approx(0.87890625, abs=0)  # exact in binary
    assert pitfalls.keys_kernel(np.array(2.5), -0.75) == 0


def test_resizers_give_the_expected_sizes_and_agree_on_flat_images():
    flat = np.full((24, 36, 3), 77, np.uint8)
    for name, up in pitfalls.UPSCALERS.items():
        out = up(flat[:8, :12], 3)
        assert out.shape == (24, 36, 3) and out.dtype == np.uint8 and (out == 77).all(), name
    for name, down in pitfalls.DOWNSCALERS.items():
        out = down(flat, 3)
        assert out.shape == (8, 12, 3) and (out == 77).all(), name


def test_rounding_once_differs_from_matlab_per_pass_rounding_by_small_amounts():
    hr = _smooth_rgb()
    per_pass = pitfalls.DOWNSCALERS["MATLAB imresize, uint8 (per pass)"](hr, 2)
    once = pitfalls.downscale_matlab_float(hr, 2)
    diff = np.abs(per_pass.astype(int) - once)
    assert 0 < np.count_nonzero(diff) and diff.max() <= 2


def test_zero_padded_bicubic_equals_bicubic_away_from_the_border():
    lr = _smooth_rgb(16, 20)
    s = 3
    padded, plain = pitfalls.bicubic_zero_padded(lr, s), pitfalls.upscale_matlab(lr, s)
    assert padded.shape == plain.shape
    inner = 3 * s  # the kernel reaches 2 LR pixels (2 * s HR pixels) into the image; one more for the rounding
    np.testing.assert_array_equal(shave(padded, inner), shave(plain, inner))
    assert (padded[:s] != plain[:s]).any()
    with pytest.raises(Exception, match="pad must be"):
        pitfalls.bicubic_zero_padded(lr, s, pad=0)


def test_mean_error_by_edge_distance():
    hr = np.full((10, 12), 100, np.uint8)
    sr = hr.copy()
    sr[0, :] = sr[-1, :] = sr[:, 0] = sr[:, -1] = 110  # error 10 on the outer ring only
    sr[5, 5] = 103
    profile = pitfalls.mean_error_by_edge_distance([(sr, hr)], 5)
    ring4 = (10 - 8) * (12 - 8) - (10 - 10) * (12 - 10)  # pixels at distance exactly 4
    np.testing.assert_allclose(profile, [100, 0, 0, 0, 9 / ring4])
    with pytest.raises(DataError, match="too small"):
        pitfalls.mean_error_by_edge_distance([(sr, hr)], 8)


def test_our_libjpeg_decoder_reproduces_pil_exactly():
    data = pitfalls.encode_jpeg(_smooth_rgb(45, 61), quality=90)  # odd sizes: the chroma is cropped back
    with Image.open(io.BytesIO(data)) as im:
        reference = np.asarray(im.convert("RGB"))
    planes = pitfalls.decode_planes(data)
    decoders = pitfalls.JPEG_DECODERS
    np.testing.assert_array_equal(decoders["libjpeg default (our re-implementation)"](*planes), reference)
    float_rgb = decoders["float colour conversion"](*planes)
    assert np.abs(float_rgb.astype(int) - reference).max() <= 1
    assert (decoders["replicated chroma (no fancy upsampling)"](*planes) != reference).any()


def test_decode_planes_refuses_other_subsampling():
    buf = io.BytesIO()
    Image.fromarray(_smooth_rgb()).save(buf, format="JPEG", quality=90, subsampling=0)  # 4:4:4
    with pytest.raises(DataError, match="not 4:2:0"):
        pitfalls.decode_planes(buf.getvalue())


def test_ssim_variants():
    hr = _smooth_rgb()
    sr = np.clip(hr.astype(int) + np.random.default_rng(1).integers(-9, 10, hr.shape), 0, 255).astype(np.uint8)
    v = pitfalls.ssim_variants(sr, hr, 2)
    assert v["MATLAB ssim_index (sr_lib.metrics.ssim)"] == ssim(shave(luma(sr), 2), shave(luma(hr), 2))
    assert v["images in [0, 1] but L = 255"] > 0.999 > v["MATLAB ssim_index (sr_lib.metrics.ssim)"]
    assert len(v) == 6 and not np.isnan(v["RGB, mean of the three channels"])
    grey = pitfalls.ssim_variants(sr[..., 0], hr[..., 0], 2)
    assert np.isnan(grey["RGB, mean of the three channels"])
