"""Colour conversions of the evaluation protocol, as MATLAB computes them.

MATLAB ``rgb2ycbcr`` (ITU-R BT.601, studio swing) on an RGB image with values in [0, 1]::

    Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255

On a ``uint8`` image MATLAB returns ``uint8``: Y is *rounded* (``Y_uint8 = round(16 + (65.481 R' + 128.553 G' +
24.966 B') / 255)`` with R', G', B' in 0..255). The SR papers' MATLAB scripts call it on ``uint8`` images, so
:func:`rgb_to_y` rounds by default. Channel order is always RGB: an image decoded by OpenCV is BGR and must be
flipped first (the book shows what forgetting that costs).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

#: Rows of MATLAB's rgb2ycbcr matrix for inputs in [0, 1] (outputs in 0..255 units).
_Y_COEFFS = (65.481, 128.553, 24.966)
_CB_COEFFS = (-37.797, -74.203, 112.0)
_CR_COEFFS = (112.0, -93.786, -18.214)
_RGB2YCBCR = np.array([_Y_COEFFS, _CB_COEFFS, _CR_COEFFS], dtype=np.float64)
_OFFSET = np.array([16.0, 128.0, 128.0])

Precision = Literal["uint8", "float"]


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``round`` (half away from zero); numpy's ``round`` is half-to-even."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def rgb_to_y(rgb: np.ndarray, precision: Precision = "uint8") -> np.ndarray:
    """Luma Y of an RGB ``uint8`` image (H, W, 3), as float64 in 0..255 units.

    precision="uint8" rounds like MATLAB ``rgb2ycbcr`` on a uint8 image; "float" keeps the exact value
    (``rgb2ycbcr(im2double(x)) * 255``).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an (H, W, 3) image, got shape {rgb.shape}")
    y = 16.0 + rgb.astype(np.float64) @ np.array(_Y_COEFFS) / 255.0
    return _round_half_away(y) if precision == "uint8" else y


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full YCbCr (float64, 0..255 units, unrounded) of an RGB ``uint8`` image, MATLAB ``rgb2ycbcr``."""
    return rgb.astype(np.float64) @ _RGB2YCBCR.T / 255.0 + _OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``); float64 RGB in 0..255 units, unclipped."""
    return (ycbcr - _OFFSET) @ np.linalg.inv(_RGB2YCBCR).T * 255.0


def luma(image: np.ndarray, precision: Precision = "uint8") -> np.ndarray:
    """The channel the protocol measures: Y of an RGB image, or the grey image itself (MATLAB's scripts
    skip ``rgb2ycbcr`` when ``size(im, 3) == 1``). Float64 in 0..255 units."""
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0].astype(np.float64)
    return rgb_to_y(image, precision)


def rgb_to_y_tensor(rgb: torch.Tensor) -> torch.Tensor:
    """Differentiable Y (unrounded) of RGB tensors (..., 3, H, W) in [0, 1]; result in [0, 1] units."""
    w = torch.tensor(_Y_COEFFS, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1) / 255.0
    return (rgb * w).sum(dim=-3, keepdim=True) + 16.0 / 255.0
