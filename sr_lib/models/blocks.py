"""Building blocks shared by the model files (the EDSR ``common.py`` / BasicSR ``arch_util.py`` of this package).

Module and attribute names follow EDSR-PyTorch's ``src/model/common.py`` so that official state dicts load with
``strict=True``: a ``ResBlock`` has ``body.0`` / ``body.2``, an ``Upsampler`` is an ``nn.Sequential`` of
``[conv, PixelShuffle]`` pairs, ``MeanShift`` is a frozen-or-not 1x1 convolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor

#: DIV2K RGB mean used by the EDSR code base (``rgb_mean`` in ``common.MeanShift``).
DIV2K_RGB_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)


def default_conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    """A 'same' convolution with zero padding ``kernel_size // 2`` (EDSR ``common.default_conv``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Subtract (``sign=-1``) or add (``sign=+1``) the data-set mean, as a fixed 1x1 convolution.

    ``y = x / std + sign * rgb_range * mean / std`` per channel. EDSR-PyTorch freezes these 24 parameters
    (``trainable=False``); RCAN, SAN and MSRN set a no-op attribute instead, so there they train
    (``trainable=True`` reproduces that).
    """

    def __init__(
        self,
        rgb_range: float,
        sign: int = -1,
        rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN,
        rgb_std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        trainable: bool = False,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(rgb_mean) / std
        for p in self.parameters():
            p.requires_grad = trainable


class ResBlock(nn.Module):
    """EDSR residual block ``x + res_scale * conv(act(conv(x)))`` (EDSR paper, Fig. 2). ``bn=True`` inserts batch
    norm after each convolution, the SRResNet block EDSR removed (the official ``common.ResBlock`` option)."""

    def __init__(
        self,
        n_feats: int,
        kernel_size: int = 3,
        res_scale: float = 1.0,
        act: nn.Module | None = None,
        bias: bool = True,
        bn: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(2):  # official order: conv, [bn], act, conv, [bn]
            layers.append(default_conv(n_feats, n_feats, kernel_size, bias=bias))
            if bn:
                layers.append(nn.BatchNorm2d(n_feats))
            if i == 0:
                layers.append(act if act is not None else nn.ReLU(True))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mul(self.res_scale) + x


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling (ESPCN): ``log2(scale)`` x [conv(C -> 4C), PixelShuffle(2)] or [conv(C -> 9C), PixelShuffle(3)]."""

    def __init__(self, scale: int, n_feats: int, bias: bool = True) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:  # a power of two
            for _ in range(int(math.log2(scale))):
                layers += [default_conv(n_feats, 4 * n_feats, 3, bias=bias), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [default_conv(n_feats, 9 * n_feats, 3, bias=bias), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"Upsampler supports scales 2^n and 3, not {scale}")
        super().__init__(*layers)


class CALayer(nn.Module):
    """Channel attention (RCAN paper, Sec. 3.3, Fig. 3): ``x * sigmoid(W_U relu(W_D avgpool(x)))``."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(self.avg_pool(x))
