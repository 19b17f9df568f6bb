"""Degradations: MATLAB-exact bicubic resizing (:mod:`.bicubic`) and Gaussian blur kernels (:mod:`.kernels`)."""

from .bicubic import downscale, imresize, modcrop

__all__ = ["downscale", "imresize", "modcrop"]
