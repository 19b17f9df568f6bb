"""Blur kernels and the blur-then-bicubic degradation of the blind-SR papers (IKC, DAN).

The degradation is ``LR = bicubic_down_s(HR (*) k)`` (DAN code ``codes/utils/deg_utils.py``, ``SRMDPreprocessing``;
greatlog/DAN at the commit of ``get_model_entry("dan-v1").official_code``), with

* ``k`` a ``size x size`` Gaussian on the integer grid ``ax = arange(-size // 2 + 1, size // 2 + 1)`` (Python floor
  division, so an odd size gives the centred grid ``-(size - 1)/2 .. (size - 1)/2`` and an even size is off-centre
  by half a pixel, as in the official code), normalised to sum 1;
* the blur a per-sample ``F.conv2d`` (a *correlation*) on the image padded by **reflection** of ``size // 2``
  pixels (``BatchBlur``; an even size pads ``(s//2, s//2 - 1)`` on each axis);
* the downscale DAN's python bicubic ``imresize(x, 1/scale)`` (``codes/data/util.py``, the MMSR port of MATLAB's
  antialiased bicubic). It equals MATLAB (:mod:`sr_lib.degrade.bicubic`) except at the border: it *mirrors* the
  image where MATLAB clamps, which changes the outer 1-3 LR pixels. :func:`dan_imresize` reproduces it; every
  function here takes ``resize="dan"`` (default, official) or ``resize="matlab"``.

Kernels are encoded for the networks by a fixed PCA matrix: ``code = flattened_kernel @ matrix`` (no centring;
DAN's ``PCAEncoder``), see :func:`pca_encode`.

**Gaussian8** (the Setting-1 benchmark of IKC and DAN): eight isotropic kernels of size 21 with
``sigma = np.linspace(lo, hi, 8)``, ``[lo, hi]`` = ``[0.80, 1.60]`` (x2), ``[1.35, 2.40]`` (x3), ``[1.8, 3.2]``
(x4). The official generator (``codes/scripts/generate_mod_blur_LR_bic.py``) reads each HR image as uint8,
mod-crops it to a multiple of the scale, converts it to float ``/255``, blurs, bicubic-downscales, and writes
``round(255 * clamp(LR, 0, 1))`` as uint8 (one rounding at the end; the script only contains x4, the x2/x3
ranges come from the DAN paper, see ``papers/dan.md``). :func:`blur_downscale_uint8` does exactly that.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from .bicubic import cubic, modcrop

Tensor = torch.Tensor

#: Gaussian8 sigma ranges ``(lo, hi)`` per scale; the eight sigmas are ``np.linspace(lo, hi, 8)``.
GAUSSIAN8_RANGES: dict[int, tuple[float, float]] = {2: (0.80, 1.60), 3: (1.35, 2.40), 4: (1.8, 3.2)}
#: Kernel size of the Setting-1 (Gaussian8) protocol.
GAUSSIAN8_KERNEL_SIZE = 21


# ----------------------------------------------------------------------------------------------------------------
# Kernel generation (numpy, float64)
# ----------------------------------------------------------------------------------------------------------------


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"kernel size must be a positive integer, got {size!r}")


def _check_sigma(name: str, sigma: float) -> None:
    if not (isinstance(sigma, (int, float, np.floating)) and math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {sigma!r}")


def kernel_grid(size: int) -> np.ndarray:
    """The 1-D pixel coordinates of a ``size``-tap kernel: ``arange(-size // 2 + 1, size // 2 + 1)`` (float64).

    Odd ``size``: symmetric about 0. Even ``size``: ``-size/2 + 1 .. size/2`` (the official grid, not centred).
    """
    _check_size(size)
    return np.arange(-size // 2 + 1.0, size // 2 + 1.0)


def isotropic_gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """``exp(-(x^2 + y^2) / (2 sigma^2))`` on :func:`kernel_grid`, normalised to sum 1; shape ``(size, size)``."""
    _check_sigma("sigma", sigma)
    ax = kernel_grid(size)
    xx, yy = np.meshgrid(ax, ax)
    kernel = np.exp(-(xx**2 + yy**2) / (2.0 * float(sigma) ** 2))
    return kernel / kernel.sum()


def _inverse_covariance(sigma_x: np.ndarray, sigma_y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``(U diag(sx^2, sy^2) U^T)^-1`` with ``U = [[cos, -sin], [sin, cos]]``; batched, shape ``(..., 2, 2)``."""
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    diag = np.zeros(np.shape(theta) + (2, 2))
    diag[..., 0, 0] = sigma_x**2
    diag[..., 1, 1] = sigma_y**2
    cov = rot @ diag @ np.swapaxes(rot, -1, -2)
    return np.linalg.inv(cov)


def anisotropic_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """``exp(-v^T Sigma^-1 v / 2)`` with ``v = (x, y)`` (x = column, y = row offset) and
    ``Sigma = U diag(sigma_x^2, sigma_y^2) U^T``, ``U`` the rotation by ``theta`` (radians), normalised to sum 1.

    ``theta = 0`` puts ``sigma_x`` along the rows' direction (horizontal). As in DAN's ``random_batch_kernel``.
    Properties: period ``pi`` in ``theta``; ``(sx, sy, theta + pi/2)`` equals ``(sy, sx, theta)``; the transpose of
    ``(sx, sy, theta)`` is ``(sx, sy, pi/2 - theta)``; ``sigma_x == sigma_y`` gives the isotropic kernel.
    """
    _check_sigma("sigma_x", sigma_x)
    _check_sigma("sigma_y", sigma_y)
    if not math.isfinite(theta):
        raise ConfigError(f"theta must be finite, got {theta!r}")
    ax = kernel_grid(size)
    xx, yy = np.meshgrid(ax, ax)
    inv = _inverse_covariance(np.float64(sigma_x), np.float64(sigma_y), np.float64(theta))
    quad = inv[0, 0] * xx**2 + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy**2
    kernel = np.exp(-0.5 * quad)
    return kernel / kernel.sum()


# ----------------------------------------------------------------------------------------------------------------
# Random kernels for training (torch, seeded generator)
# ----------------------------------------------------------------------------------------------------------------


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def random_isotropic_kernels(
    batch: int, size: int, sigma_min: float, sigma_max: float, generator: torch.Generator | None = None
) -> Tensor:
    """``batch`` isotropic kernels with ``sigma ~ U[sigma_min, sigma_max]``; float64 ``(batch, size, size)``."""
    if not 0 < sigma_min <= sigma_max:
        raise ConfigError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    ax = torch.from_numpy(kernel_grid(size))
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    sigma = _uniform(batch, sigma_min, sigma_max, generator).view(batch, 1, 1)
    kernel = torch.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    return kernel / kernel.sum(dim=(1, 2), keepdim=True)


def random_anisotropic_kernels(
    batch: int,
    size: int,
    sigma_min: float,
    sigma_max: float,
    generator: torch.Generator | None = None,
    random_disturb: bool = False,
) -> Tensor:
    """``batch`` anisotropic kernels: ``sigma_x, sigma_y ~ U[sigma_min, sigma_max]`` independently,
    ``theta ~ U[-pi, pi]`` (DAN Setting 2). ``random_disturb``: multiply every entry by ``1 + U[0, 0.25]`` and
    renormalise (the kernel is then no longer symmetric). Float64 ``(batch, size, size)``."""
    if not 0 < sigma_min <= sigma_max:
        raise ConfigError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    sigma_x = _uniform(batch, sigma_min, sigma_max, generator)
    sigma_y = _uniform(batch, sigma_min, sigma_max, generator)
    theta = _uniform(batch, -math.pi, math.pi, generator)
    inv = torch.from_numpy(_inverse_covariance(sigma_x.numpy(), sigma_y.numpy(), theta.numpy()))
    ax = torch.from_numpy(kernel_grid(size))
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    a = inv[:, 0, 0].view(batch, 1, 1)
    b = (inv[:, 0, 1] + inv[:, 1, 0]).view(batch, 1, 1)
    d = inv[:, 1, 1].view(batch, 1, 1)
    kernel = torch.exp(-0.5 * (a * xx**2 + b * xx * yy + d * yy**2))
    if random_disturb:
        noise = 0.25 * torch.rand(batch, size, size, generator=generator, dtype=torch.float64)
        kernel = kernel + noise * kernel
    return kernel / kernel.sum(dim=(1, 2), keepdim=True)


def random_kernels(
    batch: int,
    size: int = 21,
    sigma_min: float = 0.2,
    sigma_max: float = 4.0,
    rate_iso: float = 1.0,
    random_disturb: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DAN's ``random_batch_kernel``: with probability ``rate_iso`` the **whole batch** is isotropic, otherwise the
    whole batch is anisotropic (one draw per batch, as in the official code). Defaults = DAN Setting-1 training
    (``sig_min 0.2, sig_max 4.0``, k 21). The random stream is torch's, not the official numpy one (same law)."""
    if not 0.0 <= rate_iso <= 1.0:
        raise ConfigError(f"rate_iso must be in [0, 1], got {rate_iso}")
    if float(torch.rand(1, generator=generator, dtype=torch.float64)) < rate_iso:
        return random_isotropic_kernels(batch, size, sigma_min, sigma_max, generator)
    return random_anisotropic_kernels(batch, size, sigma_min, sigma_max, generator, random_disturb)


# ----------------------------------------------------------------------------------------------------------------
# PCA kernel codes
# ----------------------------------------------------------------------------------------------------------------


def pca_encode(kernels: Tensor, matrix: Tensor) -> Tensor:
    """``code = flattened_kernel @ matrix`` (no centring): kernels ``(B, k, k)`` or ``(k, k)``, matrix ``(k*k, L)``
    -> codes ``(B, L)`` (``(1, L)`` for a single kernel)."""
    kernels = torch.as_tensor(kernels)
    if kernels.dim() == 2:
        kernels = kernels[None]
    if kernels.dim() != 3 or kernels.shape[-1] != kernels.shape[-2]:
        raise ConfigError(f"kernels must be (B, k, k) or (k, k), got {tuple(kernels.shape)}")
    if matrix.dim() != 2 or matrix.shape[0] != kernels.shape[-1] ** 2:
        raise ConfigError(
            f"PCA matrix {tuple(matrix.shape)} does not fit {kernels.shape[-1]}x{kernels.shape[-1]} kernels"
        )
    flat = kernels.reshape(kernels.shape[0], -1).to(matrix.dtype)
    return flat @ matrix


# ----------------------------------------------------------------------------------------------------------------
# Blur and blur + bicubic downscale
# ----------------------------------------------------------------------------------------------------------------


def batch_blur(images: Tensor, kernels: Tensor) -> Tensor:
    """Blur each image of ``(B, C, H, W)`` with its own kernel (``(B, k, k)``) or all with one (``(k, k)``).

    Official ``BatchBlur``: reflection padding ``k // 2`` (even ``k``: ``k//2`` before, ``k//2 - 1`` after), then a
    depthwise ``F.conv2d`` (correlation; equal to convolution for the symmetric Gaussians). Output ``(B, C, H, W)``.
    float64 images are filtered through the FFT instead (same result to ~1e-15, much faster on CPU).
    """
    if images.dim() != 4:
        raise DataError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    b, c, h, w = images.shape
    kernels = torch.as_tensor(kernels).to(dtype=images.dtype, device=images.device)
    if kernels.dim() == 2:
        kernels = kernels[None].expand(b, -1, -1)
    if kernels.dim() != 3 or kernels.shape[0] != b or kernels.shape[1] != kernels.shape[2]:
        raise ConfigError(f"kernels must be (k, k) or ({b}, k, k), got {tuple(kernels.shape)}")
    k = kernels.shape[-1]
    before, after = k // 2, k // 2 - (1 - k % 2)
    if max(before, after) >= min(h, w):
        raise DataError(f"image {h}x{w} is too small for reflection padding of a {k}x{k} kernel")
    padded = F.pad(images, (before, after, before, after), mode="reflect")
    if images.dtype == torch.float64:
        # Same correlation through the FFT: float64 convolutions are very slow on CPU (no oneDNN kernel); the
        # circular wrap-around only touches the first k-1 rows/columns, which the valid crop drops. Error ~1e-15.
        size = padded.shape[-2:]
        spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(kernels.flip(-2, -1), s=size)[:, None]
        return torch.fft.irfft2(spectrum, s=size)[..., k - 1 :, k - 1 :]
    weight = kernels[:, None].repeat_interleave(c, dim=0)  # (B*C, 1, k, k), image-major like the official repeat
    out = F.conv2d(padded.reshape(1, b * c, *padded.shape[-2:]), weight, groups=b * c)
    return out.view(b, c, h, w)


@functools.lru_cache(maxsize=64)
def _dan_resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """One 1-D pass of DAN's python ``imresize`` (``codes/data/util.py``, the MMSR port), as an
    ``(out_len, in_len)`` float64 matrix.

    Same taps and weights as MATLAB (antialiased Keys cubic, ``u = x / scale + (1 - 1 / scale) / 2``), but the
    border is *mirrored* (``-1 -> 0, -2 -> 1``, "symmetric copying") where MATLAB clamps, and the first/last tap
    column is dropped when it contains any zero (for integer factors those columns are all zero).
    """
    kernel_width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    index = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - index
    weights = scale * cubic(scale * distance) if scale < 1 else cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    drop_first, drop_last = bool((weights[:, 0] == 0).any()), bool((weights[:, -1] == 0).any())
    cols = slice(1 if drop_first else 0, taps - 1 if drop_last else taps)
    weights, index = weights[:, cols], index[:, cols].astype(np.int64) - 1  # 0-based
    if index.min() < -in_len or index.max() >= 2 * in_len:
        raise DataError(f"image side {in_len} is too small for DAN's mirrored bicubic border at scale {scale}")
    index = np.where(index < 0, -index - 1, index)
    index = np.where(index >= in_len, 2 * in_len - 1 - index, index)
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (np.repeat(np.arange(out_len), weights.shape[1]), index.ravel()), weights.ravel())
    matrix.setflags(write=False)
    return matrix


def dan_imresize(images: Tensor, scale: float) -> Tensor:
    """DAN's python bicubic ``imresize(x, scale)`` on ``(..., H, W)`` (rows first, then columns; output
    ``ceil(scale * H) x ceil(scale * W)``); differs from MATLAB only in the outer few pixels (mirrored border)."""
    h, w = images.shape[-2:]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    mh = torch.from_numpy(_dan_resize_matrix(h, out_h, scale).copy()).to(images)
    mw = torch.from_numpy(_dan_resize_matrix(w, out_w, scale).copy()).to(images)
    return mh @ images @ mw.T


def blur_downscale(images: Tensor, kernels: Tensor, scale: int, resize: Literal["dan", "matlab"] = "dan") -> Tensor:
    """``imresize(batch_blur(images, kernels), 1/scale)``: the float, differentiable DAN/IKC degradation (no noise,
    no quantisation; DAN's training quantises afterwards with ``round(255 * LR) / 255``).

    ``resize="dan"`` (default): DAN's own python bicubic (:func:`dan_imresize`, mirrored border), as used by the
    official training pipeline and Gaussian8 generator. ``resize="matlab"``: the MATLAB-exact
    :func:`sr_lib.degrade.bicubic.imresize` (clamped border); the two differ only in the outer 1-3 LR pixels.
    """
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale!r}")
    blurred = batch_blur(images, kernels)
    if resize == "dan":
        return dan_imresize(blurred, 1.0 / int(scale))
    if resize == "matlab":
        from .bicubic import imresize

        return imresize(blurred, 1.0 / int(scale))
    raise ConfigError(f"resize must be 'dan' or 'matlab', got {resize!r}")


def blur_downscale_uint8(
    hr: np.ndarray, kernel: np.ndarray, scale: int, resize: Literal["dan", "matlab"] = "dan"
) -> np.ndarray:
    """The Gaussian8 LR image of ``hr``: modcrop, ``/255``, blur (reflect), bicubic ``1/scale``, clamp, ``*255``,
    round half to even, uint8 — the official ``generate_mod_blur_LR_bic.py`` recipe.

    ``hr``: uint8 ``(H, W)`` or ``(H, W, C)``; ``kernel``: ``(k, k)`` (e.g. from :func:`gaussian8_kernels`);
    ``resize``: see :func:`blur_downscale` (default ``"dan"``, the official generator's bicubic).
    Returns uint8 ``(H // scale, W // scale[, C])``. The HR reference for evaluation is ``modcrop(hr, scale)``.
    Computed in float64 (the official script works in float32; a pixel can differ by 1 where float32 rounding
    crosses a .5 boundary).
    """
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim not in (2, 3):
        raise DataError("hr must be a uint8 numpy array of shape (H, W) or (H, W, C)")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale!r}")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ConfigError(f"kernel must be square (k, k), got shape {kernel.shape}")
    img = modcrop(hr, int(scale))
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise DataError(f"image {hr.shape[0]}x{hr.shape[1]} is smaller than the scale {scale}")
    x = torch.from_numpy(img.astype(np.float64) / 255.0)
    x = x[None, None] if img.ndim == 2 else x.permute(2, 0, 1)[None]
    lr = blur_downscale(x, torch.from_numpy(kernel), int(scale), resize)
    out = torch.round(lr.clamp(0.0, 1.0) * 255.0).to(torch.uint8)[0]
    return out[0].numpy() if img.ndim == 2 else out.permute(1, 2, 0).contiguous().numpy()


# ----------------------------------------------------------------------------------------------------------------
# Gaussian8 benchmark kernels
# ----------------------------------------------------------------------------------------------------------------


def gaussian8_sigmas(scale: int) -> list[float]:
    """The eight kernel widths of Gaussian8 for ``scale`` (2, 3 or 4): ``np.linspace(lo, hi, 8)``."""
    if scale not in GAUSSIAN8_RANGES:
        raise ConfigError(f"Gaussian8 is defined for x2, x3, x4, not x{scale}")
    lo, hi = GAUSSIAN8_RANGES[scale]
    return [float(s) for s in np.linspace(lo, hi, 8)]


def gaussian8_kernels(scale: int, size: int = GAUSSIAN8_KERNEL_SIZE) -> list[tuple[float, np.ndarray]]:
    """``[(sigma, kernel), ...]`` for the eight Gaussian8 kernels of ``scale``; kernels float64 ``(size, size)``.

    The official generator stores the kernel as float32 (``torch.FloatTensor``); the difference is far below
    the uint8 quantisation of the LR image. Official file names are ``'sig{}_{}'.format(sigma, name)`` with the
    raw linspace value (e.g. ``sig2.4000000000000004_baby.png``).
    """
    return [(s, isotropic_gaussian_kernel(size, s)) for s in gaussian8_sigmas(scale)]
