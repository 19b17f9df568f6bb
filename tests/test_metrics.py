"""The measuring half of the protocol, checked against hand-computed values and an independent SSIM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from sr_lib.color import luma, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from sr_lib.metrics import evaluate_pair, psnr, quantize, shave, ssim


def test_rgb_to_y_matches_matlab_on_hand_checked_pixels() -> None:
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 150, 200]]], np.uint8)
    # MATLAB rgb2ycbcr(uint8): 16 + (65.481 R + 128.553 G + 24.966 B) / 255, rounded
    # (100,150,200): 16 + (6548.1 + 19282.95 + 4993.2) / 255 = 136.879... -> 137
    assert rgb_to_y(px).tolist() == [[16, 235, 81, 145, 41, 137]]
    assert rgb_to_y(px, "float")[0, 5] == pytest.approx(16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255)


def test_ycbcr_round_trip() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-9)


def test_grey_images_are_measured_as_they_are() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(luma(grey), grey.astype(np.float64))


def test_quantize_rounds_half_away_from_zero_and_clips() -> None:
    assert quantize(np.array([0.5, 1.5, 2.5, -3.0, 254.5, 300.0])).tolist() == [1, 2, 3, 0, 255, 255]


def test_psnr_hand_checked() -> None:
    a = np.zeros((4, 4))
    b = np.full((4, 4), 5.0)  # MSE 25 -> 10 log10(255^2 / 25) = 20 log10(51)
    assert psnr(a, b) == pytest.approx(20 * np.log10(51.0))
    assert psnr(a, a) == float("inf")


def _ssim_valid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s ssim_index.m written out: 'valid' filtering with the normalised 11x11 Gaussian."""
    ax = np.arange(11) - 5
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def filt(x: np.ndarray) -> np.ndarray:
        return correlate2d(x, w, mode="valid")

    mu_a, mu_b = filt(a), filt(b)
    s_aa = filt(a * a) - mu_a**2
    s_bb = filt(b * b) - mu_b**2
    s_ab = filt(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * s_ab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (s_aa + s_bb + c2))
    return float(m.mean())


def test_ssim_equals_matlab_valid_window_formula() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 33)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255)
    assert ssim(a, b) == pytest.approx(_ssim_valid_reference(a, b), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0)


def test_evaluate_pair_crops_the_border_and_quantises() -> None:
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)
    sr = hr.astype(np.float64)
    sr[:3] = 0  # damage only the top border of width 3
    assert evaluate_pair(sr, hr, 3).psnr == float("inf")
    assert evaluate_pair(sr, hr, 2).psnr < 40
    # 0.4 away from the truth quantises back to the truth
    assert evaluate_pair(hr + 0.4, hr, 2).psnr == float("inf")


def test_single_channel_sr_is_taken_as_luma() -> None:
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    y = rgb_to_y(hr)
    assert evaluate_pair(y, hr, 2).psnr == float("inf")


def test_bgr_trap_is_visible() -> None:
    """Measuring a BGR-decoded image as if it were RGB changes Y: the protocol needs RGB."""
    rng = np.random.default_rng(4)
    hr = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    assert evaluate_pair(hr[..., ::-1].copy(), hr, 2).psnr < 30


def test_shave() -> None:
    assert shave(np.zeros((10, 12, 3)), 2).shape == (6, 8, 3)
    assert shave(np.zeros((10, 12)), 0).shape == (10, 12)
