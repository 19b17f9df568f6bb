"""Bicubic interpolation as a "model": the baseline row of every SR table.

The evaluation pipeline upscales the LR image with the MATLAB-exact bicubic (pre-upsampling), so this network
is the identity on its input. It has no parameters and no paper of its own.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import InputSpec, ModelEntry, register_model


class Bicubic(nn.Module):
    """Identity on the bicubic-upscaled input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


register_model(
    ModelEntry(
        name="bicubic",
        family="bicubic",
        paper="Keys, Cubic convolution interpolation for digital image processing, IEEE TASSP 1981 (MATLAB imresize)",
        build=lambda scale: Bicubic(),
        build_tiny=lambda scale: Bicubic(),
        scales=(2, 3, 4, 8),
        input=InputSpec(color="rgb", pre_upsample=True, pixel_max=255.0),
        description="MATLAB bicubic upscaling (no learning)",
        paper_name="Bicubic",
        reference_protocol="matlab-y",  # the bicubic rows come from the SRCNN-era MATLAB scripts
        official_code=None,
    )
)
