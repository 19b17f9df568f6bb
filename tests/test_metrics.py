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


# ---------------------------------------------------------------------------------------------------------- NIQE


def test_niqe_matches_the_matlab_reference(data_dir, weights_dir) -> None:
    """MATLAB R2021a's NIQE of BasicSR's baboon.png (= Set14 HR baboon, first 492 columns), to 1e-3."""
    from sr_lib.imageio import read_image
    from sr_lib.metrics import NIQE_MATLAB_REFERENCE as ref, load_niqe_model, niqe

    hr = read_image(data_dir / ref["dataset"] / "HR" / f"{ref['image']}.png")
    image = hr[:, : ref["columns"]]
    model = load_niqe_model(weights_dir)
    assert niqe(image, model=model) == pytest.approx(ref["niqe"], abs=1e-3)
    # the release crops to whole 96x96 blocks from the top left: the uncropped image has the same 5x5 blocks
    assert niqe(hr, model=model) == niqe(image, model=model)
    # a natural image scores better (lower) than its blurred copy: x4 bicubic down and up again
    from sr_lib.degrade.bicubic import imresize

    blurred = imresize(imresize(hr, 0.25), output_shape=hr.shape[:2])
    assert niqe(blurred, model=model) > niqe(hr, model=model) + 1


def test_niqe_half_size_image_mirrors_its_borders(weights_dir) -> None:
    """The clamped borders of the older MATLAB imresize give a different (wrong for R2021a) score."""
    from sr_lib.degrade.bicubic import contributions, imresize

    w_clamp, i_clamp = contributions(16, 8, 0.5)
    w_mirror, i_mirror = contributions(16, 8, 0.5, borders="mirror")
    np.testing.assert_array_equal(w_clamp, w_mirror)
    np.testing.assert_array_equal(i_mirror[0], [2, 1, 0, 0, 1, 2, 3, 4])  # [1:n, n:-1:1], 0-based
    np.testing.assert_array_equal(i_clamp[0], [0, 0, 0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(i_clamp[2:-2], i_mirror[2:-2])  # only the outer outputs differ
    x = np.random.default_rng(0).random((16, 16))
    np.testing.assert_array_equal(imresize(x, 0.5)[2:-2, 2:-2], imresize(x, 0.5, borders="mirror")[2:-2, 2:-2])
    with pytest.raises(Exception, match="borders must be"):
        imresize(x, 0.5, borders="wrap")


def test_aggd_fit_recovers_known_shapes() -> None:
    from sr_lib.metrics import aggd_fit

    rng = np.random.default_rng(0)
    alpha, left, right = aggd_fit(rng.laplace(size=200_000))
    assert alpha == pytest.approx(1.0, abs=0.03) and left == pytest.approx(right, rel=0.02)
    alpha, left, right = aggd_fit(rng.normal(scale=2.0, size=200_000))
    assert alpha == pytest.approx(2.0, abs=0.05) and left == pytest.approx(2.0 * np.sqrt(2), rel=0.02)
    n = 200_000
    skewed = np.where(rng.random(n) < 0.5, -np.abs(rng.normal(size=n)), 3 * np.abs(rng.normal(size=n)))
    assert aggd_fit(skewed)[2] == pytest.approx(3 * aggd_fit(skewed)[1], rel=0.03)


def test_niqe_refuses_bad_input_with_one_line(weights_dir, tmp_path, monkeypatch) -> None:
    from sr_lib.errors import ConfigError, WeightsError
    from sr_lib.metrics import load_niqe_model, niqe

    model = load_niqe_model(weights_dir)
    grey = np.random.default_rng(0).integers(0, 256, (100, 100)).astype(np.uint8)
    assert np.isfinite(niqe(grey, model=model))  # one block: its covariance is 0, as MATLAB's cov of one row
    for bad, match in [(grey.astype(np.float32), "uint8"), (grey[:95], "96x96"), (grey[..., None], "uint8")]:
        with pytest.raises(ConfigError, match=match):
            niqe(bad, model=model)
    with pytest.raises(ConfigError, match="crop_border"):
        niqe(grey, crop_border=-1, model=model)
    with pytest.raises(ConfigError, match="96x96"):
        niqe(grey, crop_border=3, model=model)
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="niqe_pris_params.npz"):
        load_niqe_model(tmp_path)
    corrupt = tmp_path / "niqe" / "niqe_pris_params.npz"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"not a numpy file")
    with pytest.raises(WeightsError, match="sha256|hash"):
        load_niqe_model(tmp_path)


def test_niqe_of_a_flat_image_is_nan_without_warnings(weights_dir) -> None:
    import warnings

    from sr_lib.metrics import load_niqe_model, niqe

    flat = np.zeros((200, 200, 3), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(niqe(flat, model=load_niqe_model(weights_dir)))
