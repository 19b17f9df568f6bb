"""PSNR and SSIM with the standard SISR protocol (the MATLAB scripts of SRCNN, EDSR, RCAN), and NIQE.

1. the SR image is quantised to ``uint8`` (round, clip) before it is measured;
2. both images are converted to Y of MATLAB ``rgb2ycbcr`` (grey images are measured as they are);
3. ``scale`` pixels are cropped from every border;
4. PSNR = 10 log10(255^2 / MSE); SSIM as Wang et al.'s ``ssim_index.m``: 11x11 Gaussian window, sigma 1.5,
   K1 = 0.01, K2 = 0.03, L = 255, statistics over the *valid* part of the filtered image, mean of the map.

scikit-image's ``structural_similarity`` with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255`` computes the same number (its reflect-padded border is cropped before the mean); the tests
check it against a direct 'valid' implementation.

NIQE (:func:`niqe`, chapter 8) is the no-reference "naturalness" score of Mittal et al. (lower is more natural), the
perception axis of the perception-distortion plane; it follows the LIVE MATLAB release (``computequality.m``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import correlate
from scipy.special import gamma
from skimage.metrics import structural_similarity

from .color import Precision, luma
from .errors import ConfigError, WeightsError


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


# --------------------------------------------------------------------------------------------------------------------
# NIQE — Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE SPL 2013.

#: Side of NIQE's square blocks (the release's ``blocksizerow = blocksizecol = 96``, no overlap).
NIQE_BLOCK = 96
#: The MATLAB value :func:`niqe` is checked against (tests, chapter 8): BasicSR records, in the docstring of
#: ``calculate_niqe`` (``basicsr/metrics/niqe.py``, at the commit of :data:`sr_lib.hub.NIQE_MODEL`), MATLAB R2021a's
#: NIQE of the Y channel of its ``test_scripts/data/baboon.png``; that file (``input_sha256``) is, pixel for pixel,
#: the first 492 columns of Set14's HR ``baboon.png``.
NIQE_MATLAB_REFERENCE = {"dataset": "Set14", "image": "baboon", "columns": 492, "niqe": 5.72957338,
                         "source": "BasicSR basicsr/metrics/niqe.py, calculate_niqe docstring (MATLAB R2021a)",
                         "input_sha256": "275a75fd08d0a7899cbdaa8820ff15869e33bc1d6d07dbc79133374683fe411c"}


@dataclass(frozen=True)
class NIQEModel:
    """The multivariate Gaussian fitted to pristine images (``mu`` (36,), ``cov`` (36, 36)), the 7x7 window, and the
    file they were read from."""

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray
    path: Path


def load_niqe_model(weights_dir: str | Path | None = None, download: bool = False) -> NIQEModel:
    """The pristine model file (:data:`sr_lib.hub.NIQE_MODEL`), found (``weights_dir`` > ``$SR_WEIGHTS_DIR`` > cache)
    and hash-checked; downloaded (12 kB) only if ``download``. Read with ``allow_pickle=False``."""
    from .hub import resolve_aux

    path = resolve_aux("niqe", None, weights_dir, download)
    try:
        with np.load(path, allow_pickle=False) as f:
            mu, cov, window = (np.asarray(f[k], dtype=np.float64)
                               for k in ("mu_pris_param", "cov_pris_param", "gaussian_window"))
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: not NIQE's pristine model ({exc})") from None
    if mu.size != 36 or cov.shape != (36, 36) or window.shape != (7, 7):
        raise WeightsError(f"{path}: NIQE model arrays have shapes {mu.shape}, {cov.shape}, {window.shape}")
    return NIQEModel(mu.reshape(36), cov, window, Path(path))


@lru_cache(maxsize=1)
def _aggd_table() -> tuple[np.ndarray, np.ndarray]:
    """Candidate shapes 0.2:0.001:10 and their ratio ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))``."""
    shapes = np.arange(0.2, 10.001, 0.001)
    return shapes, gamma(2 / shapes) ** 2 / (gamma(1 / shapes) * gamma(3 / shapes))


def aggd_fit(x: np.ndarray) -> tuple[float, float, float]:
    """Shape ``alpha`` and left/right scales of an asymmetric generalised Gaussian fitted by moment matching
    (Mittal et al. 2013, Eq. 6-7; the release's ``estimateaggdparam.m``: a grid search over alpha)."""
    x = x.ravel()
    neg, pos = x[x < 0], x[x > 0]
    if not neg.size or not pos.size:  # a flat block: MATLAB's mean of an empty set is NaN, so are the features
        return math.nan, math.nan, math.nan
    left, right = math.sqrt(np.mean(neg**2)), math.sqrt(np.mean(pos**2))
    ratio = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    rhat_norm = rhat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    shapes, table = _aggd_table()
    alpha = shapes[np.argmin((table - rhat_norm) ** 2)]
    spread = math.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return float(alpha), float(left * spread), float(right * spread)


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one block of normalised luminance (Sec. II-C): the AGGD of the coefficients (shape,
    mean scale) and, for the products of horizontal, vertical and both diagonal neighbours, shape, mean and scales."""
    alpha, left, right = aggd_fit(block)
    feats = [alpha, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):  # circshift offsets of computefeature.m
        alpha, left, right = aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        feats += [alpha, (right - left) * gamma(2 / alpha) / gamma(1 / alpha), left, right]
    return feats


def niqe_features(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The (blocks, 36) feature matrix of a float luminance image whose sides are multiples of 96: 18 features of
    each block of the mean-subtracted, contrast-normalised image (Eq. 1, replicate borders), then the same on the
    MATLAB-bicubic half-size image with 48-pixel blocks. The half-size image mirrors its borders as MATLAB R2021a's
    ``imresize`` does: with the clamped borders of the older MATLAB that made the benchmark LR files, the reference
    value (:data:`NIQE_MATLAB_REFERENCE`) is missed by 0.010, with mirrored ones it is met to 4e-4."""
    from .degrade.bicubic import imresize

    columns = []
    for factor in (1, 2):
        mu = correlate(y, window, mode="nearest")
        sigma = np.sqrt(np.abs(correlate(y * y, window, mode="nearest") - mu * mu))
        mscn = (y - mu) / (sigma + 1)
        side = NIQE_BLOCK // factor
        columns.append(np.array([_block_features(mscn[i:i + side, j:j + side])
                                 for j in range(0, mscn.shape[1], side) for i in range(0, mscn.shape[0], side)]))
        if factor == 1:
            y = imresize(y, 0.5, borders="mirror")
    return np.concatenate(columns, axis=1)


def niqe(image: np.ndarray, crop_border: int = 0, model: NIQEModel | None = None) -> float:
    """NIQE of an RGB (or grey) ``uint8`` image on the Y channel of MATLAB's ``rgb2ycbcr`` (rounded as MATLAB does on
    uint8): the distance between the pristine Gaussian and the one fitted to the image's block features,
    ``sqrt((mu_p - mu_d)^T ((S_p + S_d) / 2)^+ (mu_p - mu_d))`` (Eq. 10). Lower is more natural.

    ``crop_border`` pixels are removed from each side first, then the image is cropped to whole 96x96 blocks from
    the top left, as the release does. ``model`` defaults to :func:`load_niqe_model` (``$SR_WEIGHTS_DIR``).
    An image whose every block is flat has no defined score: NaN, as in MATLAB.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ConfigError(f"niqe: expects an (H, W, 3) or (H, W) uint8 image, got {image.dtype} {image.shape}")
    if crop_border < 0:
        raise ConfigError(f"niqe: crop_border must be >= 0, got {crop_border}")
    y = shave(luma(image) if image.ndim == 3 else image.astype(np.float64), crop_border)
    rows, cols = (n // NIQE_BLOCK * NIQE_BLOCK for n in y.shape[:2])
    if rows == 0 or cols == 0:
        raise ConfigError(f"niqe: needs at least {NIQE_BLOCK}x{NIQE_BLOCK} pixels after cropping, got {y.shape[:2]}")
    model = model or load_niqe_model()
    feats = niqe_features(y[:rows, :cols], model.window)
    with warnings.catch_warnings():  # a feature that is NaN in every block (a flat image) stays NaN, as in MATLAB
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmean(feats, axis=0)
    complete = feats[~np.isnan(feats).any(axis=1)]  # MATLAB nancov: rows with a NaN are dropped
    cov = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros((feats.shape[1],) * 2)  # cov of 1 row: 0
    d = model.mu - mu
    return float(np.sqrt(d @ np.linalg.pinv((model.cov + cov) / 2) @ d))
