"""Blur kernels, PCA codes and the blur + bicubic degradation of IKC/DAN (sr_lib.degrade.kernels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import require_dir
from sr_lib.degrade.kernels import (
    anisotropic_gaussian_kernel,
    batch_blur,
    blur_downscale,
    blur_downscale_uint8,
    gaussian8_kernels,
    gaussian8_sigmas,
    isotropic_gaussian_kernel,
    kernel_grid,
    modcrop,
    pca_encode,
    random_anisotropic_kernels,
    random_isotropic_kernels,
    random_kernels,
)
from sr_lib.errors import ConfigError, DataError


def _moments(k: np.ndarray) -> tuple[float, float, float]:
    """Second moments (E[x^2], E[y^2], E[xy]) of a kernel, x = column offset, y = row offset."""
    ax = kernel_grid(k.shape[0])
    xx, yy = np.meshgrid(ax, ax)
    return float((k * xx**2).sum()), float((k * yy**2).sum()), float((k * xx * yy).sum())


# --------------------------------------------------------------------------------------------------- generation


def test_grid_matches_official_centring() -> None:
    np.testing.assert_array_equal(kernel_grid(21), np.arange(-10.0, 11.0))
    np.testing.assert_array_equal(kernel_grid(4), np.array([-1.0, 0.0, 1.0, 2.0]))  # even: official, off-centre


@pytest.mark.parametrize("size", [21, 11, 31, 20])
def test_kernels_sum_to_one(size: int) -> None:
    assert isotropic_gaussian_kernel(size, 1.7).sum() == pytest.approx(1.0, abs=1e-12)
    assert anisotropic_gaussian_kernel(size, 0.9, 3.1, 0.7).sum() == pytest.approx(1.0, abs=1e-12)
    g = torch.Generator().manual_seed(0)
    for k in (random_isotropic_kernels(5, size, 0.2, 4.0, g), random_anisotropic_kernels(5, size, 0.6, 5.0, g, True)):
        torch.testing.assert_close(k.sum(dim=(1, 2)), torch.ones(5, dtype=torch.float64))
        assert (k >= 0).all()


def test_isotropic_formula_and_symmetry() -> None:
    k = isotropic_gaussian_kernel(21, 2.6)
    ax = np.arange(-10.0, 11.0)
    ref = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 2.6**2))
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-13)
    np.testing.assert_allclose(k, k.T, rtol=0, atol=0)
    np.testing.assert_allclose(k, k[::-1, ::-1], rtol=0, atol=0)
    assert np.unravel_index(k.argmax(), k.shape) == (10, 10)


def test_anisotropic_rotation_properties() -> None:
    sx, sy, th = 1.2, 3.0, 0.4
    k = anisotropic_gaussian_kernel(21, sx, sy, th)
    np.testing.assert_allclose(k, anisotropic_gaussian_kernel(21, sx, sy, th + math.pi), atol=1e-15)  # period pi
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, sx, sy, th + math.pi / 2),
                               anisotropic_gaussian_kernel(21, sy, sx, th), atol=1e-15)
    np.testing.assert_allclose(k.T, anisotropic_gaussian_kernel(21, sx, sy, math.pi / 2 - th), atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # point symmetric: correlation == convolution
    for theta in (0.0, 0.3, 2.0):  # equal widths: isotropic whatever the angle
        np.testing.assert_allclose(anisotropic_gaussian_kernel(21, 1.5, 1.5, theta), isotropic_gaussian_kernel(21, 1.5),
                                   atol=1e-15)


def test_anisotropic_axes_and_covariance() -> None:
    # theta = 0: sigma_x along the columns (horizontal); a wide grid recovers Sigma = U diag(sx^2, sy^2) U^T
    ex2, ey2, exy = _moments(anisotropic_gaussian_kernel(41, 2.0, 1.0, 0.0))
    assert ex2 == pytest.approx(4.0, rel=1e-6) and ey2 == pytest.approx(1.0, rel=1e-6) and abs(exy) < 1e-12
    th = math.pi / 6
    ex2, ey2, exy = _moments(anisotropic_gaussian_kernel(41, 2.0, 1.0, th))
    c, s = math.cos(th), math.sin(th)
    assert ex2 == pytest.approx(4 * c * c + s * s, rel=1e-6)
    assert ey2 == pytest.approx(4 * s * s + c * c, rel=1e-6)
    assert exy == pytest.approx(c * s * (4 - 1), rel=1e-6)  # > 0: mass along the top-left -> bottom-right diagonal


def test_random_kernels_are_seeded_and_in_range() -> None:
    a = random_kernels(4, 21, 0.2, 4.0, rate_iso=0.5, generator=torch.Generator().manual_seed(3))
    b = random_kernels(4, 21, 0.2, 4.0, rate_iso=0.5, generator=torch.Generator().manual_seed(3))
    c = random_kernels(4, 21, 0.2, 4.0, rate_iso=0.5, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    iso = random_isotropic_kernels(64, 21, 1.0, 2.0, torch.Generator().manual_seed(0))
    # the centre value of a normalised isotropic kernel decreases with sigma: bounded by the sigma range
    assert (iso[:, 10, 10] <= isotropic_gaussian_kernel(21, 1.0)[10, 10] + 1e-12).all()
    assert (iso[:, 10, 10] >= isotropic_gaussian_kernel(21, 2.0)[10, 10] - 1e-12).all()
    with pytest.raises(ConfigError):
        random_isotropic_kernels(2, 21, 3.0, 1.0)
    with pytest.raises(ConfigError):
        isotropic_gaussian_kernel(21, 0.0)


# --------------------------------------------------------------------------------------------------- Gaussian8


def test_gaussian8_sigmas_per_scale() -> None:
    for scale, (lo, hi) in {2: (0.8, 1.6), 3: (1.35, 2.4), 4: (1.8, 3.2)}.items():
        sig = gaussian8_sigmas(scale)
        assert len(sig) == 8 and sig[0] == lo and sig[-1] == hi
        np.testing.assert_allclose(np.diff(sig), (hi - lo) / 7, rtol=1e-12)
    np.testing.assert_allclose(gaussian8_sigmas(4), [1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2], rtol=1e-12)
    np.testing.assert_allclose(gaussian8_sigmas(3), [1.35, 1.5, 1.65, 1.8, 1.95, 2.1, 2.25, 2.4], rtol=1e-12)
    with pytest.raises(ConfigError, match="x8"):
        gaussian8_sigmas(8)


def test_gaussian8_kernels() -> None:
    pairs = gaussian8_kernels(3)
    assert [s for s, _ in pairs] == gaussian8_sigmas(3)
    for sigma, k in pairs:
        assert k.shape == (21, 21) and k.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_array_equal(k, isotropic_gaussian_kernel(21, sigma))


# --------------------------------------------------------------------------------------------------- PCA codes


def test_pca_code_with_the_real_matrix() -> None:
    path = require_dir("SR_WEIGHTS_DIR", "dan_aux", "pca_matrix", "DANv1", "pca_matrix.pth")
    matrix = torch.load(path, weights_only=True)
    assert matrix.shape == (441, 10)
    kernels = torch.stack([torch.from_numpy(k) for _, k in gaussian8_kernels(4)]).float()
    codes = pca_encode(kernels, matrix)
    assert codes.shape == (8, 10)
    torch.testing.assert_close(codes, kernels.reshape(8, 441) @ matrix)  # no centring
    dirac = torch.zeros(21, 21)
    dirac[10, 10] = 1
    torch.testing.assert_close(pca_encode(dirac, matrix), matrix[220:221])
    with pytest.raises(ConfigError):
        pca_encode(torch.zeros(2, 11, 11), matrix)


# --------------------------------------------------------------------------------------------------- blur


@pytest.mark.parametrize("size", [21, 11, 4])
def test_blur_of_a_constant_image_is_constant(size: int) -> None:
    img = torch.full((2, 3, 25, 23), 0.37, dtype=torch.float64)
    kernels = random_anisotropic_kernels(2, size, 0.6, 5.0, torch.Generator().manual_seed(1), random_disturb=True)
    torch.testing.assert_close(batch_blur(img, kernels), img, rtol=0, atol=1e-14)


def test_blur_with_dirac_is_identity_and_kernels_are_per_sample() -> None:
    img = torch.rand(2, 3, 24, 26, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    dirac = torch.zeros(21, 21, dtype=torch.float64)
    dirac[10, 10] = 1
    torch.testing.assert_close(batch_blur(img, dirac), img, rtol=0, atol=1e-14)
    kernels = random_isotropic_kernels(2, 21, 0.5, 3.0, torch.Generator().manual_seed(2))
    both = batch_blur(img, kernels)
    for i in range(2):
        torch.testing.assert_close(both[i : i + 1], batch_blur(img[i : i + 1], kernels[i]))
    # reflection padding (not zero, not replicate): compare one border pixel with an explicit computation
    k = kernels[0].numpy()
    padded = np.pad(img[0, 0].numpy(), 10, mode="reflect")
    assert float(both[0, 0, 0, 0]) == pytest.approx(float((padded[:21, :21] * k).sum()), rel=1e-12)


@pytest.mark.parametrize("size", [21, 20, 5])
def test_blur_float64_fft_path_equals_float32_convolution(size: int) -> None:
    img = torch.rand(2, 3, 30, 27, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    kernels = random_anisotropic_kernels(2, size, 0.6, 5.0, torch.Generator().manual_seed(5), random_disturb=True)
    fft = batch_blur(img, kernels)  # float64: FFT
    conv = batch_blur(img.float(), kernels.float())  # float32: depthwise conv2d (the official op)
    torch.testing.assert_close(fft.float(), conv, rtol=0, atol=2e-6)


def test_blur_rejects_bad_shapes() -> None:
    with pytest.raises(DataError):
        batch_blur(torch.zeros(1, 3, 8, 8), torch.ones(21, 21) / 441)  # too small for reflection padding
    with pytest.raises(ConfigError):
        batch_blur(torch.zeros(2, 3, 30, 30), torch.ones(3, 21, 21))


# --------------------------------------------------------------------------------------------------- blur + bicubic


def test_blur_downscale_uint8_shape_constant_and_modcrop() -> None:
    k = isotropic_gaussian_kernel(21, 2.6)
    flat = np.full((50, 45, 3), 200, dtype=np.uint8)
    lr = blur_downscale_uint8(flat, k, 4)
    assert lr.dtype == np.uint8 and lr.shape == (12, 11, 3)
    assert (lr == 200).all()
    gray = np.random.default_rng(0).integers(0, 256, (48, 44), dtype=np.uint8)
    out = blur_downscale_uint8(gray, k, 2)
    assert out.shape == (24, 22)
    assert modcrop(gray, 3).shape == (48, 42)
    with pytest.raises(DataError):
        blur_downscale_uint8(gray.astype(np.float32), k, 2)


def _official_style_resize_rows(img: np.ndarray, scale: float) -> np.ndarray:
    """A literal loop over output rows, written from the description of DAN's ``imresize``: pad by *symmetric
    copying* (the first ``S`` rows reversed before, the last ``E`` rows reversed after), then a weighted sum over
    each output's taps. Only the row pass (columns are the same with the axes swapped)."""
    n = img.shape[0]
    out_n = math.ceil(n * scale)
    width = 4.0 / scale
    u = np.arange(1, out_n + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + np.arange(taps)
    d = (u[:, None] - idx) * scale
    a = np.abs(d)
    w = (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1) + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2))
    w = scale * w
    w = w / w.sum(1, keepdims=True)
    w, idx = w[:, 1:-1], idx[:, 1:-1]  # integer factors: the first and last tap columns are all zero
    s_len, e_len = int(-idx.min() + 1), int(idx.max() - n)
    padded = np.concatenate([img[:s_len][::-1], img, img[n - e_len :][::-1]], axis=0)
    idx = (idx + s_len - 1).astype(int)
    return np.stack([(w[i][:, None] * padded[idx[i]]).sum(0) for i in range(out_n)])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_dan_imresize_mirrors_the_border_and_matches_matlab_inside(scale: int) -> None:
    from sr_lib.degrade.bicubic import imresize
    from sr_lib.degrade.kernels import dan_imresize

    img = np.random.default_rng(scale).random((48, 36))
    ours = dan_imresize(torch.from_numpy(img), 1 / scale).numpy()
    rows = _official_style_resize_rows(img, 1 / scale)
    ref = _official_style_resize_rows(rows.T, 1 / scale).T
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-13)
    matlab = imresize(torch.from_numpy(img), 1 / scale).numpy()
    assert ours.shape == matlab.shape == (48 // scale, 36 // scale)
    np.testing.assert_allclose(ours[3:-3, 3:-3], matlab[3:-3, 3:-3], rtol=0, atol=1e-13)  # same taps inside
    assert np.abs(ours - matlab).max() > 1e-6  # clamp vs mirror at the border


@pytest.mark.parametrize("resize", ["dan", "matlab"])
def test_blur_downscale_uint8_is_blur_then_bicubic_then_one_rounding(resize: str) -> None:
    from sr_lib.degrade.bicubic import imresize
    from sr_lib.degrade.kernels import dan_imresize

    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (38, 31, 3), dtype=np.uint8)  # modcrop to 36 x 30
    k = isotropic_gaussian_kernel(21, 1.35)
    x = torch.from_numpy(hr[:36, :30].astype(np.float64) / 255).permute(2, 0, 1)[None]
    resize_fn = dan_imresize if resize == "dan" else imresize
    ref = resize_fn(batch_blur(x, torch.from_numpy(k)), 1 / 3)
    ref = torch.round(ref.clamp(0, 1) * 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(blur_downscale_uint8(hr, k, 3, resize=resize), ref)
    # a Dirac kernel reduces the degradation to the plain bicubic downscale
    dirac = np.zeros((21, 21))
    dirac[10, 10] = 1
    torch.testing.assert_close(blur_downscale(x, torch.from_numpy(dirac), 3, resize=resize), resize_fn(x, 1 / 3))
    with pytest.raises(ConfigError):
        blur_downscale(x, torch.from_numpy(dirac), 3, resize="pil")  # type: ignore[arg-type]
