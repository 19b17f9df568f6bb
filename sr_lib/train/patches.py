"""Training patches: the batch at iteration ``k`` is a function of ``(seed, k)`` only.

Every HR training image is degraded once per scale with the exact MATLAB bicubic (uint8, as the benchmark LR
files are made); an item of a batch is a random aligned crop, optionally one of the 8 flips/rotations. Item ``i``
of batch ``k`` draws from ``numpy.random.default_rng((seed, k, i))``, so a resumed run sees the same batches and
DDP processes can each build only their share of the global batch. For blind SR (DAN) the degradation is
applied on the fly: each item gets its own random isotropic Gaussian blur, then the bicubic downscale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..color import luma
from ..data import iter_hr_images
from ..degrade.bicubic import downscale, imresize, modcrop
from ..degrade.kernels import batch_blur, isotropic_gaussian_kernel
from ..errors import DataError
from ..models import get_model_entry
from .recipes import Recipe

Tensor = torch.Tensor


@dataclass
class Batch:
    """``lr`` is the network input in [0, 1] (bicubic-upscaled for pre-upsampling models), ``hr`` the target."""

    lr: Tensor
    hr: Tensor
    scale: int
    extras: dict[str, Tensor] = field(default_factory=dict)  # e.g. "kernel": (B, k, k) true blur kernels


def _channels(image: np.ndarray, color: str) -> np.ndarray:
    """(C, H, W): the unrounded MATLAB luma (float32) or RGB uint8 (grey replicated)."""
    if color == "y":
        return luma(image, precision="float").astype(np.float32)[None]
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def _dihedral(a: np.ndarray, k: int, flip: bool) -> np.ndarray:
    a = np.rot90(a, k, axes=(-2, -1))
    return a[..., ::-1] if flip else a


class PatchSampler:
    """Aligned (LR, HR) training patches for ``recipe`` from its training sets."""

    def __init__(self, recipe: Recipe, data_dir: str | Path | None = None,
                 images: Sequence[np.ndarray] | None = None) -> None:
        entry = get_model_entry(recipe.model)
        self.recipe, self.color, self.pre_upsample = recipe, entry.input.color, entry.input.pre_upsample
        self.blind = recipe.degradation == "gaussian"
        hr_images = list(images) if images is not None else list(iter_hr_images(recipe.train_sets, data_dir))
        p = recipe.hr_patch
        margin = recipe.kernel_size if self.blind else 0  # HR context for the blur
        self.hr: list[np.ndarray] = []
        self.lr: dict[int, list[np.ndarray]] = {s: [] for s in recipe.train_scales}
        for image in hr_images:
            if min(image.shape[:2]) < p + 2 * margin:
                continue
            image = modcrop(image, int(np.lcm.reduce(recipe.train_scales)))
            self.hr.append(_channels(image, self.color))
            if self.blind:
                continue
            for s in recipe.train_scales:
                lr = _channels(downscale(image, s), self.color)  # uint8 RGB or unrounded luma
                if self.pre_upsample:  # the whole LR image is upscaled, as the SRCNN/VDSR scripts do
                    lr = imresize(torch.from_numpy(lr).double(), float(s)).float().numpy()
                self.lr[s].append(lr)
        if not self.hr:
            raise DataError(f"no training image is at least {p + 2 * margin} pixels on each side")

    # -------------------------------------------------------------------------------------------------------
    def batch(self, iteration: int, rank: int = 0, world: int = 1) -> Batch:
        """This process's share of the global batch number ``iteration`` (items ``rank::world`` in order)."""
        r = self.recipe
        if r.batch_size % world:
            raise DataError(f"batch_size {r.batch_size} is not divisible by {world} processes")
        per = r.batch_size // world
        items = range(rank * per, (rank + 1) * per)
        if r.multiscale == "batch" or len(r.train_scales) == 1:
            scale = r.train_scales[int(np.random.default_rng((r.seed, iteration)).integers(len(r.train_scales)))]
            scales = [scale] * per
        else:
            scales = [r.train_scales[int(np.random.default_rng((r.seed, iteration, i, 1)).integers(
                len(r.train_scales)))] for i in items]
        pairs = [self._item(iteration, i, s) for i, s in zip(items, scales)]
        lr = torch.from_numpy(np.stack([a for a, _, _ in pairs]))
        hr = torch.from_numpy(np.stack([b for _, b, _ in pairs]))
        lr, hr = (t.float().div_(255.0) if t.dtype == torch.uint8 else t.div(255.0) for t in (lr, hr))
        if not self.blind:
            return Batch(lr, hr, scales[0])
        kernels = torch.from_numpy(np.stack([k for _, _, k in pairs]))
        lr = self._blur_down(lr, kernels, scales[0])
        m = r.kernel_size
        return Batch(lr, hr[..., m:-m, m:-m].contiguous(), scales[0], {"kernel": kernels.float()})

    def _item(self, iteration: int, index: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        r = self.recipe
        rng = np.random.default_rng((r.seed, iteration, index))
        n = int(rng.integers(len(self.hr)))
        hr_img = self.hr[n]
        margin = r.kernel_size if self.blind else 0
        p_hr = r.hr_patch + 2 * margin
        lr_step = 1 if self.pre_upsample or self.blind else scale  # LR-input models: crop on the LR grid
        y = int(rng.integers((hr_img.shape[1] - p_hr) // lr_step + 1)) * lr_step
        x = int(rng.integers((hr_img.shape[2] - p_hr) // lr_step + 1)) * lr_step
        hr = hr_img[:, y : y + p_hr, x : x + p_hr]
        kernel = None
        if self.blind:
            sigma = float(rng.uniform(*r.blur_sigma))
            kernel = isotropic_gaussian_kernel(r.kernel_size, sigma)
            lr = hr
        elif self.pre_upsample:
            lr = self.lr[scale][n][:, y : y + p_hr, x : x + p_hr]
        else:
            s, p = scale, r.hr_patch // scale
            lr = self.lr[scale][n][:, y // s : y // s + p, x // s : x // s + p]
        if r.augment:
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            lr, hr = _dihedral(lr, k, flip), _dihedral(hr, k, flip)
            if kernel is not None:  # the blur of a rotated image is the rotated blur (isotropic: unchanged)
                kernel = _dihedral(kernel, k, flip)
        return np.ascontiguousarray(lr), np.ascontiguousarray(hr), kernel

    def _blur_down(self, hr_with_margin: Tensor, kernels: Tensor, scale: int) -> Tensor:
        """Blur each HR patch with its kernel, drop the margin, bicubic-downscale (DAN's degradation)."""
        m = self.recipe.kernel_size
        blurred = batch_blur(hr_with_margin.double(), kernels)[..., m:-m, m:-m]
        return imresize(blurred, 1.0 / scale).clamp(0, 1).float()
