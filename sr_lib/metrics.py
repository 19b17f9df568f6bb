"""PSNR and SSIM with the standard SISR protocol (the MATLAB scripts of SRCNN, EDSR, RCAN).

1. the SR image is quantised to ``uint8`` (round, clip) before it is measured;
2. both images are converted to Y of MATLAB ``rgb2ycbcr`` (grey images are measured as they are);
3. ``scale`` pixels are cropped from every border;
4. PSNR = 10 log10(255^2 / MSE); SSIM as Wang et al.'s ``ssim_index.m``: 11x11 Gaussian window, sigma 1.5,
   K1 = 0.01, K2 = 0.03, L = 255, statistics over the *valid* part of the filtered image, mean of the map.

scikit-image's ``structural_similarity`` with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255`` computes the same number (its reflect-padded border is cropped before the mean); the tests
check it against a direct 'valid' implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from .color import Precision, luma


def quantize(image: np.ndarray) -> np.ndarray:
    """Round half away from zero and clip to ``uint8``, as MATLAB's ``uint8(x)`` does."""
    x = np.asarray(image, dtype=np.float64)
    return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), 0, 255).astype(np.uint8)


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Crop ``border`` pixels from each side of an (H, W[, C]) image."""
    if border == 0:
        return image
    return image[border:-border, border:-border, ...]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two arrays of the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """MATLAB ``ssim_index`` (Wang et al. 2004, Eq. 13) of two single-channel images."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim: expects two (H, W) images of the same shape, got {a.shape} and {b.shape}")
    return float(
        structural_similarity(
            a.astype(np.float64),
            b.astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=peak,
            K1=0.01,
            K2=0.03,
        )
    )


@dataclass(frozen=True)
class Score:
    psnr: float
    ssim: float


def evaluate_pair(
    sr: np.ndarray,
    hr: np.ndarray,
    scale: int,
    y_precision: Precision = "uint8",
    compute_ssim: bool = True,
    quantize_sr: bool = True,
) -> Score:
    """PSNR/SSIM of an SR image against its HR image with the standard protocol (steps 1-4 above).

    ``sr`` may be float (it is quantised first) or uint8, RGB (H, W, 3) or single channel (H, W); a
    single-channel SR is taken to already be the measured channel (Y-only models). ``hr`` is uint8.
    ``quantize_sr=False`` measures a float SR as it is (the pytorch-vdsr protocol).
    """
    sr_q = sr if quantize_sr is False else (quantize(sr) if sr.dtype != np.uint8 else sr)
    if sr_q.shape[:2] != hr.shape[:2]:
        raise ValueError(f"SR {sr_q.shape[:2]} and HR {hr.shape[:2]} sizes differ")
    sr_y = sr_q.astype(np.float64) if sr_q.ndim == 2 else _measured_channel(sr_q, hr, y_precision)
    hr_y = luma(hr, y_precision)
    sr_y, hr_y = shave(sr_y, scale), shave(hr_y, scale)
    return Score(psnr(sr_y, hr_y), ssim(sr_y, hr_y) if compute_ssim else float("nan"))


#: MATLAB rgb2gray weights (the first row of its NTSC matrix inverse).
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _measured_channel(sr_rgb: np.ndarray, hr: np.ndarray, precision: Precision) -> np.ndarray:
    if hr.ndim == 2 or hr.shape[2] == 1:
        # A grey HR image is measured on its grey values: bring the RGB SR back to grey (MATLAB rgb2gray).
        grey = sr_rgb.astype(np.float64) @ _RGB2GRAY
        return quantize(grey).astype(np.float64) if precision == "uint8" else grey
    return luma(sr_rgb, precision)
