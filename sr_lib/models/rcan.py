"""RCAN — Zhang, Li, Li, Wang, Zhong, Fu: "Image Super-Resolution Using Very Deep Residual Channel Attention
Networks" (ECCV 2018). Official code: yulunzhang/RCAN (:data:`OFFICIAL_CODE`),
``RCAN_TrainCode/code/model/rcan.py`` (class ``RCAN``) + ``model/common.py``.

The network (paper Sec. 3.1, Fig. 2, Eq. 1-4)::

    F_0  = H_SF(I_LR)                 head: one conv3x3 (after sub_mean)
    F_DF = H_RIR(F_0)                 body: residual in residual, below
    I_SR = H_REC(H_UP(F_DF))          tail: ESPCN upsampler + conv3x3 (then add_mean)

Residual in residual (RIR, Sec. 3.2, Fig. 2):

* long skip connection, Eq. 7: ``F_DF = F_0 + W_LSC F_G`` — ``body = [RG x G, conv3x3]`` plus the input;
* residual group, Eq. 6/8/9: ``F_g = F_{g-1} + W_g F_{g,B}`` — ``RG.body = [RCAB x B, conv3x3]`` plus the input;
* residual channel attention block (Sec. 3.4, Fig. 4, Eq. 13-14):
  ``F_{g,b} = F_{g,b-1} + CA(X_{g,b})`` with ``X_{g,b} = W2 relu(W1 F_{g,b-1})``.

Channel attention (Sec. 3.3, Fig. 3, Eq. 10-12): ``z_c = mean_{i,j} x_c(i, j)`` (Eq. 10, global average
pooling), ``s = sigmoid(W_U relu(W_D z))`` with a channel reduction ``r`` (Eq. 11), ``x^_c = s_c * x_c`` (Eq. 12);
this is :class:`sr_lib.models.blocks.CALayer` (keys ``conv_du.0`` / ``conv_du.2``).

Where the official code is not what one might expect (reproduced by default):

* ``res_scale`` is accepted but **not applied** in the RCAB (the multiplication is commented out in the official
  ``RCAB.forward``). ``RCANConfig(apply_res_scale=True)`` is the EDSR-style variant that scales the residual.
* ``common.MeanShift`` sets ``self.requires_grad = False``, a no-op attribute: the 24 MeanShift parameters train.
* Channel attention pools over the whole image, so tiled (``--chop``) inference is a different function.

Paper configuration: G = 10 residual groups, B = 20 RCABs, 64 features, reduction 16, ~15.6M parameters;
input RGB in [0, 255] (``rgb_range = 255``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import ConfigError
from ..hub import WeightsEntry
from .blocks import CALayer, MeanShift, Upsampler, default_conv
from .official import OfficialPort, check_official_args, register_port, single_scale
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "yulunzhang/RCAN@f722e5d0e1eff45148bfaefd9bc85c6f0f26ce02"


@dataclass(frozen=True)
class RCANConfig:
    """Constructor arguments (official names; ``n_colors`` is always 3 because MeanShift is RGB-only)."""

    scale: int = 4
    n_resgroups: int = 10  # G
    n_resblocks: int = 20  # B
    n_feats: int = 64
    reduction: int = 16  # r of the channel attention
    rgb_range: float = 255.0
    res_scale: float = 1.0  # accepted like the official code, unused unless apply_res_scale
    apply_res_scale: bool = False  # False = official behaviour
    # Ablations of the paper's Table 1 (chapter 5); True = the official network.
    long_skip: bool = True  # LSC: F_DF = F_0 + W_LSC H_G(...) (Eq. 7)
    short_skip: bool = True  # SSC: each residual group adds its input (Eq. 9)
    channel_attention: bool = True  # CA inside every RCAB (Eq. 12); False = a plain residual block

    def __post_init__(self) -> None:
        if self.scale < 2 or (self.scale & (self.scale - 1) != 0 and self.scale != 3):
            raise ConfigError(f"RCAN upsampler supports scales 2, 3, 4, 8, ... (2^n or 3), not x{self.scale}")
        if self.reduction < 1 or self.n_feats // self.reduction < 1:
            raise ConfigError(f"RCAN: n_feats // reduction must be >= 1 (got {self.n_feats} // {self.reduction})")


class RCAB(nn.Module):
    """Residual channel attention block: ``x + CA(conv(relu(conv(x))))``; keys ``body.0``, ``body.2``, ``body.3``."""

    def __init__(self, n_feats: int, reduction: int, res_scale: float = 1.0, apply_res_scale: bool = False,
                 channel_attention: bool = True) -> None:
        super().__init__()
        attention = [CALayer(n_feats, reduction)] if channel_attention else []
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, 3),
            nn.ReLU(True),
            default_conv(n_feats, n_feats, 3),
            *attention,
        )
        self.res_scale = res_scale
        self.apply_res_scale = apply_res_scale

    def forward(self, x: Tensor) -> Tensor:
        res = self.body(x)
        if self.apply_res_scale:  # not in the official code (commented out there)
            res = res * self.res_scale
        return res + x


class ResidualGroup(nn.Module):
    """``x + conv(RCAB_B(...RCAB_1(x)))`` (Eq. 9); keys ``body.0`` ... ``body.{B-1}`` (RCABs), ``body.B`` (conv)."""

    def __init__(self, n_feats: int, reduction: int, n_resblocks: int, res_scale: float, apply_res_scale: bool,
                 channel_attention: bool = True, short_skip: bool = True) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(n_feats, reduction, res_scale, apply_res_scale, channel_attention)
                                   for _ in range(n_resblocks)]
        blocks.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*blocks)
        self.short_skip = short_skip

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x if self.short_skip else self.body(x)


class RCAN(nn.Module):
    """RCAN with the official module names (``sub_mean``, ``head``, ``body``, ``tail``, ``add_mean``)."""

    def __init__(self, config: RCANConfig = RCANConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.sub_mean = MeanShift(c.rgb_range, sign=-1, trainable=True)
        self.head = nn.Sequential(default_conv(3, c.n_feats, 3))
        groups: list[nn.Module] = [
            ResidualGroup(c.n_feats, c.reduction, c.n_resblocks, c.res_scale, c.apply_res_scale,
                          c.channel_attention, c.short_skip)
            for _ in range(c.n_resgroups)
        ]
        groups.append(default_conv(c.n_feats, c.n_feats, 3))  # W_LSC of Eq. 7
        self.body = nn.Sequential(*groups)
        self.tail = nn.Sequential(Upsampler(c.scale, c.n_feats), default_conv(c.n_feats, 3, 3))
        self.add_mean = MeanShift(c.rgb_range, sign=1, trainable=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x))  # F_0
        res = self.body(x) + x if self.config.long_skip else self.body(x)  # F_DF, long skip connection (Eq. 7)
        return self.add_mean(self.tail(res))


# --------------------------------------------------------------------------------------------------------------
# Official port (golden tests) and registry presets
# --------------------------------------------------------------------------------------------------------------

_OFFICIAL_ARGS = {"scale", "n_resgroups", "n_resblocks", "n_feats", "reduction", "res_scale", "rgb_range", "n_colors"}


def config_from_official_args(args: Mapping[str, Any]) -> RCANConfig:
    """Official ``args`` namespace fields (as stored in the golden/manifest files) -> :class:`RCANConfig`."""
    args = check_official_args(args, _OFFICIAL_ARGS, "RCAN")
    return RCANConfig(
        scale=single_scale(args, "RCAN"),
        n_resgroups=int(args.get("n_resgroups", 10)),
        n_resblocks=int(args.get("n_resblocks", 20)),
        n_feats=int(args.get("n_feats", 64)),
        reduction=int(args.get("reduction", 16)),
        rgb_range=float(args.get("rgb_range", 255)),
        res_scale=float(args.get("res_scale", 1)),
    )


register_port(
    OfficialPort(
        golden_dir="rcan",
        source=f"{OFFICIAL_CODE}:RCAN_TrainCode/code/model/rcan.py:RCAN",
        build=lambda args: RCAN(config_from_official_args(args)),
    )
)

_PAPER = "Zhang et al., Image Super-Resolution Using Very Deep Residual Channel Attention Networks, ECCV 2018"
_DROPBOX = "https://www.dropbox.com/s/qm9vc0p0w9i4s0n/models_ECCV2018RCAN.zip?dl=0"
_WEIGHTS = tuple(
    WeightsEntry(model="rcan", scale=s, path=f"rcan/RCAN_BIX{s}.pt", format="state-dict",
                 source=f"{OFFICIAL_CODE}:README.md (Test, Quick start)", homepage=_DROPBOX,
                 notes=("manual download: the archive models_ECCV2018RCAN.zip (BIX2/3/4/8, BDX3) from Dropbox, "
                        "BaiduYun (https://pan.baidu.com/s/1bkoJKmdOcvLhOFXHVkFlKA) or Google Drive "
                        "(https://drive.google.com/file/d/1U0RmWkkacyw0HNC7CBts2LcX1ewAulCn/view?usp=sharing); "
                        f"unpack RCAN_BIX{s}.pt; no published hash"))
    for s in (2, 3, 4, 8)
)

register_model(
    ModelEntry(
        name="rcan",
        family="rcan",
        paper=_PAPER,
        build=lambda scale: RCAN(RCANConfig(scale=scale)),
        build_tiny=lambda scale: RCAN(RCANConfig(scale=scale, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)),
        make=lambda scale, **options: RCAN(RCANConfig(scale=scale, **options)),
        scales=(2, 3, 4, 8),
        input=InputSpec(color="rgb", pre_upsample=False, pixel_max=255.0),
        tile_safe=False,  # channel attention uses global average pooling
        description="RCAN (10 residual groups x 20 RCABs, 64 features, reduction 16)",
        paper_name="RCAN",
        official_code=OFFICIAL_CODE,
        weights=_WEIGHTS,
    )
)
