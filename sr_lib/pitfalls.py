"""What other pipelines do instead of the protocol: the resizers, decoders and SSIM variants that the protocol
chapter (``book/01_sr_problem``) measures against ``sr_lib``'s reference implementations.

None of these is used to produce a number of the book's tables; each exists to show, with a measurement, what a
reimplementation changes when it uses it:

* :data:`UPSCALERS` / :data:`DOWNSCALERS`: PIL, PyTorch and MATLAB-filter variants of "bicubic" (MATLAB's is
  :func:`sr_lib.degrade.imresize`; Keys' kernel with a free parameter is :func:`keys_kernel`);
* :func:`bicubic_zero_padded`: bicubic of an LR image framed by zeros (what a convolution with default padding sees);
* :func:`mean_error_by_edge_distance`: where in an image the error sits;
* :data:`JPEG_DECODERS`: the last two steps of a JPEG decoder (chroma upsampling, YCbCr -> RGB) as libjpeg(-turbo)
  performs them by default, and two alternatives;
* :func:`ssim_variants`: SSIM as scikit-image's defaults and other common choices compute it.
"""

from __future__ import annotations

import io
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, JpegImagePlugin
from skimage.metrics import structural_similarity

from .color import luma
from .degrade.bicubic import imresize
from .degrade.bicubic import downscale as matlab_downscale
from .errors import ConfigError, DataError
from .metrics import quantize, shave, ssim

Resizer = Callable[[np.ndarray, int], np.ndarray]


def keys_kernel(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a`` (Keys 1981); MATLAB and PIL use a = -0.5,
    PyTorch and OpenCV a = -0.75. ``sr_lib.degrade.bicubic.cubic`` is the a = -0.5 case."""
    t = np.abs(np.asarray(x, dtype=np.float64))
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t <= 2, far, 0.0))


# ----------------------------------------------------------------------------------------------------------------
# resizers: (image uint8, integer scale) -> uint8 image


def _torch_bicubic(image: np.ndarray, size: tuple[int, int], antialias: bool) -> np.ndarray:
    x = torch.from_numpy(np.atleast_3d(image).astype(np.float64)).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    return quantize(y[0].permute(1, 2, 0).numpy().reshape(*size, *image.shape[2:]))


def _pil(image: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), method))


def upscale_matlab(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(lr, scale, 'bicubic')`` computed in float and rounded once (the papers' bicubic rows)."""
    return quantize(imresize(lr.astype(np.float64), float(scale)))


def upscale_torch(lr: np.ndarray, scale: int) -> np.ndarray:
    """``F.interpolate(mode="bicubic", align_corners=False)`` (a = -0.75), rounded once."""
    return _torch_bicubic(lr, (lr.shape[0] * scale, lr.shape[1] * scale), antialias=False)


def pil_upscaler(method: Image.Resampling) -> Resizer:
    """PIL's ``Image.resize`` with ``method`` (NEAREST, BILINEAR, BICUBIC) on the uint8 image."""
    return lambda lr, scale: _pil(lr, (lr.shape[0] * scale, lr.shape[1] * scale), method)


def downscale_matlab_float(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB's filter in floating point, rounded once (MATLAB itself rounds a uint8 image after each pass)."""
    size = (hr.shape[0] // scale, hr.shape[1] // scale)
    return quantize(imresize(hr.astype(np.float64), 1 / scale, output_shape=size))


def torch_downscaler(antialias: bool) -> Resizer:
    """``F.interpolate(mode="bicubic")`` to ``size // scale``, with or without ``antialias`` (default: without)."""
    return lambda hr, scale: _torch_bicubic(hr, (hr.shape[0] // scale, hr.shape[1] // scale), antialias)


UPSCALERS: dict[str, Resizer] = {
    "nearest": pil_upscaler(Image.Resampling.NEAREST),
    "bilinear": pil_upscaler(Image.Resampling.BILINEAR),
    "bicubic, MATLAB": upscale_matlab,
    "bicubic, PIL": pil_upscaler(Image.Resampling.BICUBIC),
    "bicubic, PyTorch": upscale_torch,
}

DOWNSCALERS: dict[str, Resizer] = {
    "MATLAB imresize, uint8 (per pass)": matlab_downscale,
    "MATLAB filter, float, rounded once": downscale_matlab_float,
    "PIL BICUBIC": lambda hr, s: _pil(hr, (hr.shape[0] // s, hr.shape[1] // s), Image.Resampling.BICUBIC),
    "PyTorch bicubic, antialias=False": torch_downscaler(False),
    "PyTorch bicubic, antialias=True": torch_downscaler(True),
}


def bicubic_zero_padded(lr: np.ndarray, scale: int, pad: int = 2) -> np.ndarray:
    """MATLAB bicubic of ``lr`` framed by ``pad`` zero pixels, cropped back to the image's own area: the border a
    convolution with zero padding sees (``pad`` = 2 covers the cubic kernel's reach)."""
    if pad < 1:
        raise ConfigError(f"bicubic_zero_padded: pad must be >= 1, got {pad}")
    padded = np.pad(lr.astype(np.float64), ((pad, pad), (pad, pad)) + ((0, 0),) * (lr.ndim - 2))
    return quantize(imresize(padded, float(scale))[pad * scale: -pad * scale, pad * scale: -pad * scale])


def mean_error_by_edge_distance(pairs: Sequence[tuple[np.ndarray, np.ndarray]], max_distance: int) -> np.ndarray:
    """Mean squared error of the Y channel of ``(sr, hr)`` pairs at each distance ``0 .. max_distance - 1`` from
    the nearest image edge, pooled over all pairs."""
    sums, counts = np.zeros(max_distance), np.zeros(max_distance)
    for sr, hr in pairs:
        err2 = (luma(sr) - luma(hr)) ** 2
        h, w = err2.shape
        yy, xx = np.mgrid[:h, :w]
        dist = np.minimum(np.minimum(yy, h - 1 - yy), np.minimum(xx, w - 1 - xx))
        inside = dist < max_distance
        sums += np.bincount(dist[inside], err2[inside], max_distance)
        counts += np.bincount(dist[inside], minlength=max_distance)
    if not counts.all():
        raise DataError(f"mean_error_by_edge_distance: images too small for {max_distance} distances")
    return sums / counts


# ----------------------------------------------------------------------------------------------------------------
# JPEG decoding


def decode_planes(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The planes of a 4:2:0 JPEG: Y at full size, PIL's upsampled (Cb, Cr) at full size, and the stored
    half-size Cb and Cr. PIL's "draft" mode at half scale makes libjpeg return the chroma as stored."""
    with Image.open(io.BytesIO(data)) as im:
        if JpegImagePlugin.get_sampling(im) != 2:
            raise DataError("decode_planes: the JPEG is not 4:2:0 chroma-subsampled")
        im.draft("YCbCr", im.size)
        full = np.asarray(im)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("YCbCr", (im.size[0] // 2, im.size[1] // 2))
        half = np.asarray(im)
    return full[..., 0], full[..., 1:], half[..., 1], half[..., 2]


def upsample_fancy(c: np.ndarray) -> np.ndarray:
    """libjpeg's default ("fancy", h2v2) chroma upsampling: a 3:1 triangle filter vertically, then horizontally,
    with libjpeg's alternating rounding (each output mixes its 4 nearest stored pixels 9/16, 3/16, 3/16, 1/16)."""
    c = c.astype(np.int32)
    up, down = np.vstack([c[:1], c[:-1]]), np.vstack([c[1:], c[-1:]])
    rows = np.empty((2 * c.shape[0], c.shape[1]), np.int32)
    rows[0::2], rows[1::2] = 3 * c + up, 3 * c + down
    left, right = np.hstack([rows[:, :1], rows[:, :-1]]), np.hstack([rows[:, 1:], rows[:, -1:]])
    out = np.empty((rows.shape[0], 2 * rows.shape[1]), np.int32)
    out[:, 0::2], out[:, 1::2] = (3 * rows + left + 8) >> 4, (3 * rows + right + 7) >> 4
    return out


def upsample_replicate(c: np.ndarray) -> np.ndarray:
    """Chroma upsampling without filtering: each stored pixel becomes a 2x2 block."""
    return np.repeat(np.repeat(c.astype(np.int32), 2, axis=0), 2, axis=1)


def ycbcr_to_rgb_libjpeg(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """libjpeg's JFIF YCbCr -> RGB in fixed point (16 fractional bits, constants rounded once), clipped to uint8."""
    def fix(v: float) -> int:
        return int(v * 65536 + 0.5)

    cb, cr, y = cb.astype(np.int64) - 128, cr.astype(np.int64) - 128, y.astype(np.int64)
    r = y + ((fix(1.402) * cr + 32768) >> 16)
    g = y + ((-fix(0.34414) * cb - fix(0.71414) * cr + 32768) >> 16)
    b = y + ((fix(1.772) * cb + 32768) >> 16)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def ycbcr_to_rgb_float(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """The same JFIF formulas in floating point, rounded once."""
    y, cb, cr = y.astype(np.float64), cb - 128.0, cr - 128.0
    return quantize(np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1))


def _fancy(y: np.ndarray, full: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    h, w = y.shape
    return ycbcr_to_rgb_libjpeg(y, upsample_fancy(cb)[:h, :w], upsample_fancy(cr)[:h, :w])


def _replicated(y: np.ndarray, full: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    h, w = y.shape
    return ycbcr_to_rgb_libjpeg(y, upsample_replicate(cb)[:h, :w], upsample_replicate(cr)[:h, :w])


#: Decoders from the planes of :func:`decode_planes` to RGB: libjpeg's default, then one step changed each.
JPEG_DECODERS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "libjpeg default (our re-implementation)": _fancy,
    "float colour conversion": lambda y, full, cb, cr: ycbcr_to_rgb_float(y, full[..., 0], full[..., 1]),
    "replicated chroma (no fancy upsampling)": _replicated,
}


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """``image`` (RGB uint8) as an in-memory 4:2:0 JPEG (the Demo set's stand-in for B100's files)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------------------------
# SSIM


def ssim_variants(sr: np.ndarray, hr: np.ndarray, scale: int) -> Mapping[str, float]:
    """SSIM of ``sr`` against ``hr`` (uint8, same size) as MATLAB's ``ssim_index`` computes it (the protocol,
    :func:`sr_lib.metrics.ssim`) and as five common alternatives do; Y channel with ``scale`` pixels cropped unless
    stated. The RGB variant is NaN for grey images."""
    a, b = shave(luma(sr), scale), shave(luma(hr), scale)
    gauss = dict(gaussian_weights=True, sigma=1.5, data_range=255)
    full_map = structural_similarity(a, b, use_sample_covariance=False, full=True, **gauss)[1]
    rgb = float("nan")
    if sr.ndim == 3 and sr.shape[2] == 3:
        rgb = structural_similarity(shave(sr, scale).astype(np.float64), shave(hr, scale).astype(np.float64),
                                    use_sample_covariance=False, channel_axis=2, **gauss)
    return {
        "MATLAB ssim_index (sr_lib.metrics.ssim)": ssim(a, b),
        "skimage defaults (7x7 uniform, sample variance)": structural_similarity(a, b, data_range=255),
        "Gaussian window, sample variance (skimage default)": structural_similarity(a, b, **gauss),
        "Gaussian, mean over the padded full map": float(full_map.mean()),
        "images in [0, 1] but L = 255": structural_similarity(a / 255, b / 255, use_sample_covariance=False, **gauss),
        "RGB, mean of the three channels": float(rgb),
    }
