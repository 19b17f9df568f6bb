"""MATLAB-exact bicubic resizing: ``imresize(x, scale, 'bicubic')``, ``modcrop`` and the standard x2/x3/x4 LR recipe.

Every benchmark LR image in the SISR literature (Set5, Set14, B100, Urban100, DIV2K ``LR_bicubic``) was made with
MATLAB ``imresize(modcrop(HR, s), 1/s, 'bicubic')`` on a **uint8** image. PIL, OpenCV, scikit-image and
``torch.nn.functional.interpolate`` all give different pixels, and a PSNR table computed on different LR inputs is
not the published table. This module reproduces MATLAB bit for bit (checked against every Set5/Set14 LR file in
``tests/test_bicubic.py``).

The recipe (MATLAB ``imresize.m``, function ``contributions``), for one dimension of length ``in_len`` resized to
``out_len`` with factor ``scale``:

* kernel: Keys cubic convolution with ``a = -0.5``, support ``[-2, 2]`` (``kernel_width = 4``)::

      k(x) = 1.5|x|^3 - 2.5|x|^2 + 1             for |x| <= 1
             -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2     for 1 < |x| <= 2
             0                                    otherwise

* antialiasing: when *down*scaling (``scale < 1``) the kernel is stretched by ``1/scale``,
  ``h(x) = scale * k(scale * x)`` and ``kernel_width = 4 / scale`` (so x4 uses 18 taps). When upscaling the plain
  kernel is used (no widening).
* output pixel ``x = 1..out_len`` (1-based) maps to input coordinate ``u = x / scale + 0.5 * (1 - 1 / scale)``;
  its taps are ``left + 0..P-1`` with ``left = floor(u - kernel_width / 2)`` and ``P = ceil(kernel_width) + 2``;
  weights ``h(u - index)`` are normalised to sum to 1 per output pixel.
* borders: out-of-range indices are **clamped** to ``[1, in_len]`` (edge replication).
  *Trap:* the ``[1:n, n:-1:1]`` symmetric (mirror) padding of some ports changes the outer two
  rows/columns by up to 11 grey levels (33750 Set5/Set14 LR values differ). Later MATLAB releases mirror
  (``borders="mirror"``): NIQE's reference value, computed with MATLAB R2021a, is met only with mirrored borders
  (:func:`sr_lib.metrics.niqe`).
* tap columns whose weight is zero for every output pixel are dropped (pure speed; the sums do not change).
* the two dimensions are resized one after the other, the one with the **smaller** scale factor first (stable
  sort, so for equal factors rows/height first, then columns/width).
* output length ``ceil(scale * in_len)`` when a scale is given; with an explicit output size the per-dimension
  factor is ``out_len / in_len``.
* uint8 input: each 1-D pass is a sum in float64 over the taps in order, then **rounded half away from zero and
  clipped to [0, 255] before the next pass**. *Trap:* keeping the intermediate in float and rounding once at the
  end changes 12.8 % of the Set5/Set14 LR values (mostly by one grey level, up to 12 where the clipping of an
  intermediate overshoot at 0/255 is skipped). Ties are real: the x2 and x4 weights are dyadic fractions, so
  sums like 14.5 occur exactly, and round-half-to-even (``np.round``) is wrong too.

Three input kinds:

* ``np.uint8`` ``(H, W)`` / ``(H, W, C)`` -> ``np.uint8`` (MATLAB uint8 semantics above; bit-exact);
* ``np.float32`` / ``np.float64`` ``(H, W)`` / ``(H, W, C)`` -> ``np.float64`` (no rounding; MATLAB double);
* ``torch.Tensor`` floating ``(..., H, W)`` -> same dtype and device, differentiable, no rounding: two matmuls with
  cached dense weight matrices (``W_h @ x @ W_w^T``), which BLAS makes far faster than a gather over the taps
  (the summation order differs from MATLAB's, so expect ~1e-13 differences in float64, not bit-exactness).

The numpy passes are a scipy CSR x dense product with one stored entry per tap: it accumulates the taps of each
output pixel left to right, in float64, like MATLAB's ``imresizemex``; the weights and matrices are cached per
``(in_len, out_len, scale)``. A dense matmul or ``einsum`` would reorder the sum and can flip a near-tie.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, Sequence, TypeVar

import numpy as np
import scipy.sparse
import torch

from ..errors import ConfigError, DataError

__all__ = ["contributions", "cubic", "downscale", "imresize", "modcrop"]

Tensor = torch.Tensor
ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, Tensor)
Borders = Literal["clamp", "mirror"]

KERNEL_WIDTH = 4.0  # support of the Keys cubic kernel, [-2, 2]

# ----------------------------------------------------------------------------------------------------------------
# weights


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with ``a = -0.5`` (MATLAB ``imresize>cubic``), evaluated in float64."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (1 < absx) & (absx <= 2)
    )


@functools.lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float, antialiasing: bool = True,
                  borders: Borders = "clamp") -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``contributions``: ``(weights, indices)``, both ``(out_len, taps)``; indices are 0-based and clamped
    (or mirrored, ``[1:n, n:-1:1]``, with ``borders="mirror"``).

    Output pixel ``i`` is ``sum_k weights[i, k] * x[indices[i, k]]``, summed over ``k`` in order. ``antialiasing``
    widens the kernel by ``1 / scale`` when ``scale < 1`` (MATLAB's default). The arrays are cached and read-only.
    """
    kernel_width = KERNEL_WIDTH
    stretch = scale < 1 and antialiasing
    if stretch:
        kernel_width = kernel_width / scale

    x = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based output coordinates
    u = x / scale + 0.5 * (1 - 1 / scale)  # matching 1-based input coordinate
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if stretch else cubic(distance)

    total = np.zeros(out_len)
    for k in range(taps):  # left-to-right sum, like MATLAB's sum over a short row
        total = total + weights[:, k]
    weights = weights / total[:, None]

    if borders == "clamp":
        indices = np.clip(indices.astype(np.int64), 1, in_len) - 1  # clamp = edge replication; to 0-based
    else:
        mirrored = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
        indices = mirrored[(indices.astype(np.int64) - 1) % (2 * in_len)]
    keep = np.any(weights != 0, axis=0)  # MATLAB drops all-zero columns
    weights, indices = np.ascontiguousarray(weights[:, keep]), np.ascontiguousarray(indices[:, keep])
    weights.setflags(write=False)
    indices.setflags(write=False)
    return weights, indices


@functools.lru_cache(maxsize=256)
def _sparse_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool,
                   borders: Borders) -> scipy.sparse.csr_array:
    """The taps as a CSR matrix, one stored entry per tap, in tap order, duplicates (clamped taps) kept.

    scipy's CSR x dense product (``csr_matvecs``) accumulates ``y[i] += w * x[j]`` over a row's stored entries in
    order, i.e. exactly MATLAB's left-to-right sum over the taps, so the uint8 results stay bit-exact
    (``tests/test_bicubic.py`` checks this against an explicit loop). Summing duplicates first would not.
    """
    weights, indices = contributions(in_len, out_len, scale, antialiasing, borders)
    taps = weights.shape[1]
    indptr = np.arange(0, out_len * taps + 1, taps)
    return scipy.sparse.csr_array((weights.ravel(), indices.ravel(), indptr), shape=(out_len, in_len))


@functools.lru_cache(maxsize=256)
def _dense_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool, borders: Borders) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix of one 1-D pass (clamped taps that hit the same pixel are added)."""
    weights, indices = contributions(in_len, out_len, scale, antialiasing, borders)
    matrix = np.zeros((out_len, in_len))
    rows = np.repeat(np.arange(out_len), weights.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=64)
def _torch_matrix(
    in_len: int, out_len: int, scale: float, antialiasing: bool, borders: Borders, dtype: torch.dtype,
    device: torch.device
) -> Tensor:
    """:func:`_dense_matrix` as a tensor on ``device`` in ``dtype`` (cached: built once per size and device)."""
    matrix = _dense_matrix(in_len, out_len, scale, antialiasing, borders)
    return torch.from_numpy(matrix.copy()).to(device=device, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------
# one 1-D pass on numpy arrays

# The largest double below 0.5: trunc(v + HALF_DOWN) is round-half-up for every v >= 0, including
# v = 0.49999999999999994 where the usual floor(v + 0.5) gives 1.
_HALF_DOWN = np.nextafter(0.5, 0.0)


def _round_uint8(values: np.ndarray) -> np.ndarray:
    """MATLAB's double -> uint8 conversion: round half away from zero, saturate to [0, 255] (in place on ``values``)."""
    np.clip(values, 0, 255, out=values)
    values += _HALF_DOWN
    return values.astype(np.uint8)  # truncation toward zero of non-negative values = floor


def _resize_numpy(a: np.ndarray, axis: int, out_len: int, scale: float, antialiasing: bool,
                  borders: Borders) -> np.ndarray:
    """Resize ``axis`` (0 = height, 1 = width) of an ``(H, W)`` or ``(H, W, C)`` uint8 or float64 array."""
    matrix = _sparse_matrix(a.shape[axis], out_len, scale, antialiasing, borders)
    moved = np.swapaxes(a, 0, axis)  # the resized axis first: each tap then reads a whole contiguous row
    rows = np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
    out = matrix @ rows.astype(np.float64, copy=False)  # float64 sum over the taps, in tap order
    if a.dtype == np.uint8:
        out = _round_uint8(out)  # rounded before the next pass, as MATLAB does for uint8 images
    out = out.reshape((out_len,) + moved.shape[1:])
    return np.ascontiguousarray(np.swapaxes(out, 0, axis))


# ----------------------------------------------------------------------------------------------------------------
# public API


def _check_image(image: Any) -> tuple[int, int]:
    """Validate the image kind/shape; return its ``(H, W)``."""
    if isinstance(image, Tensor):
        if not image.is_floating_point():
            raise DataError(f"imresize: torch input must be a floating tensor, got {image.dtype}")
        if image.ndim < 2:
            raise DataError(f"imresize: torch input must be (..., H, W), got shape {tuple(image.shape)}")
        shape = tuple(image.shape)
        hw = shape[-2], shape[-1]
    elif isinstance(image, np.ndarray):
        if image.dtype not in (np.uint8, np.float32, np.float64):
            raise DataError(f"imresize: numpy input must be uint8, float32 or float64, got {image.dtype}")
        if image.ndim not in (2, 3):
            raise DataError(f"imresize: numpy input must be (H, W) or (H, W, C), got shape {image.shape}")
        shape = image.shape
        hw = shape[0], shape[1]
    else:
        raise DataError(f"imresize: expected a numpy array or a torch tensor, got {type(image).__name__}")
    if 0 in shape:
        raise DataError(f"imresize: empty image of shape {shape}")
    return hw


def _check_scale(scale: Any) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise ConfigError(f"imresize: scale must be a positive number, got {scale!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"imresize: scale must be a positive finite number, got {scale!r}")
    return float(scale)


def _check_shape(output_shape: Any) -> tuple[int, int]:
    ok = isinstance(output_shape, Sequence) and len(output_shape) == 2
    ok = ok and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in output_shape)
    if not ok:
        raise ConfigError(f"imresize: output_shape must be two positive ints (height, width), got {output_shape!r}")
    return int(output_shape[0]), int(output_shape[1])


def imresize(
    image: ArrayOrTensor,
    scale: float | None = None,
    *,
    output_shape: tuple[int, int] | None = None,
    antialiasing: bool = True,
    borders: Borders = "clamp",
) -> ArrayOrTensor:
    """MATLAB ``imresize(image, scale, 'bicubic')`` (see the module docstring for the exact recipe).

    Give ``scale`` (output size ``ceil(scale * in)``), or ``output_shape=(h, w)`` (factors ``h / H`` and ``w / W``),
    or both (``scale`` drives the kernel, ``output_shape`` the sizes; this is what :func:`downscale` uses).
    numpy uint8 -> uint8 (rounded after each pass), numpy float -> float64, torch floating ``(..., H, W)`` -> same
    dtype/device, differentiable. ``antialiasing=False`` is MATLAB's ``'Antialiasing', false``. ``borders="mirror"``:
    the symmetric padding of later MATLAB releases (the default ``"clamp"`` made the benchmark LR files).
    """
    in_hw = _check_image(image)
    if borders not in ("clamp", "mirror"):
        raise ConfigError(f"imresize: borders must be 'clamp' or 'mirror', got {borders!r}")
    if scale is None and output_shape is None:
        raise ConfigError("imresize: give a scale or an output_shape")
    if scale is not None:
        s = _check_scale(scale)
        scales = (s, s)
        out_hw = _check_shape(output_shape) if output_shape is not None else tuple(math.ceil(s * n) for n in in_hw)
    else:
        out_hw = _check_shape(output_shape)
        scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    if min(out_hw) < 1:
        raise ConfigError(f"imresize: scale {scale!r} gives an empty output for an input of size {in_hw}")

    order = sorted((0, 1), key=lambda d: scales[d])  # smaller factor first; stable: rows first on ties

    if isinstance(image, Tensor):
        out = image
        for d in order:
            m = _torch_matrix(in_hw[d], out_hw[d], scales[d], antialiasing, borders, image.dtype, image.device)
            out = m @ out if d == 0 else out @ m.T
        return out

    out = image if image.dtype == np.uint8 else image.astype(np.float64)
    for d in order:
        out = _resize_numpy(out, d, out_hw[d], scales[d], antialiasing, borders)
    return out


def modcrop(image: ArrayOrTensor, scale: int) -> ArrayOrTensor:
    """Top-left crop to multiples of ``scale``: numpy ``(H, W[, C])`` or torch ``(..., H, W)``."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"modcrop: scale must be a positive int, got {scale!r}")
    if isinstance(image, Tensor):
        if image.ndim < 2:
            raise DataError(f"modcrop: torch input must be (..., H, W), got shape {tuple(image.shape)}")
        h, w = image.shape[-2:]
        return image[..., : h - h % scale, : w - w % scale]
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise DataError(f"modcrop: numpy input must be (H, W) or (H, W, C), got shape {image.shape}")
        h, w = image.shape[:2]
        return image[: h - h % scale, : w - w % scale]
    raise DataError(f"modcrop: expected a numpy array or a torch tensor, got {type(image).__name__}")


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark LR image: MATLAB ``imresize(modcrop(hr, scale), 1/scale, 'bicubic')`` on uint8.

    The output is exactly ``(H // scale, W // scale)`` (the factor passed to the kernel is the double ``1/scale``,
    the same double MATLAB derives from ``h / H``).
    """
    if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8:
        kind = hr.dtype if isinstance(hr, np.ndarray) else type(hr).__name__
        raise DataError(f"downscale: expected a uint8 numpy image, got {kind}")
    cropped = modcrop(hr, scale)
    h, w = cropped.shape[:2]
    if h == 0 or w == 0:
        raise DataError(f"downscale: image of shape {hr.shape} is smaller than the scale {scale}")
    return imresize(cropped, 1 / scale, output_shape=(h // scale, w // scale))
