"""MSRN — Li, Fang, Mei, Zhang: "Multi-scale Residual Network for Image Super-Resolution" (ECCV 2018).

Official code: MIVRC/MSRN-PyTorch (:data:`OFFICIAL_CODE`). The repository holds two networks
that share the same building block and differ in their ends:

* ``OLD/model.py`` — the code released with the paper: one (Y) channel in [0, 1], no mean shift. The README's
  "old (paper)" rows, i.e. **the paper's numbers**, come from this variant. Here: :class:`MSRNY`, preset
  ``"msrn-y"``.
* ``MSRN/Train/model/msrn.py`` — the authors' later re-training on RGB in the EDSR-PyTorch framework
  (``rgb_range=255``, DIV2K mean shift). The released ``MSRN_x{2,3,4,8}.pt`` checkpoints and the golden files of
  this project are for this variant. Here: :class:`MSRN`, preset ``"msrn"``.

Multi-scale residual block (MSRB, paper Fig. 3; symbols S1, P1, S2, P2, S', M_n of the paper's MSRB equations
-- the equation *numbers* could not be checked, the paper body was not readable to us, see papers/msrn.md). Two
paths, 3x3 and 5x5, whose first-layer outputs are *crossed* (concatenated and fed to both second layers), then a
1x1 "bottleneck" fuses them and an identity skip closes the block::

    S1 = relu(conv3(M))            P1 = relu(conv5(M))                     # width C
    S2 = relu(conv3([S1, P1]))     P2 = relu(conv5([S1, P1]))              # width 2C, the cross connection
    S' = conv1x1([S2, P2])                                                  # 4C -> C
    M_n = S' + M_{n-1}                                                      # local residual learning

Hierarchical feature fusion structure (HFFS, paper Fig. 2): the outputs of *all* MSRBs and the shallow feature
``M0`` are concatenated and reduced by a 1x1 convolution (the "bottleneck") before reconstruction. There is no
global image skip; the only long path is ``M0`` into that concatenation. Everything is local (no pooling, no
attention), so tiled inference with enough overlap equals whole-image inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..download import github_raw_url
from ..errors import ConfigError
from ..hub import WeightsEntry
from .blocks import MeanShift, ResBlock, Upsampler, default_conv
from .official import OfficialPort, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "MIVRC/MSRN-PyTorch@a0e038de7eb42e21d2e88c38e6490b61a02c566e"
SCALES: tuple[int, ...] = (2, 3, 4, 8)


class MSRB(nn.Module):
    """Multi-scale residual block (paper Fig. 3); official ``MSRB`` / ``MSRB_Block``.

    Attribute names are the official ones: ``conv_3_1``, ``conv_5_1`` (C -> C), ``conv_3_2``, ``conv_5_2``
    (2C -> 2C, they read the crossed concatenation ``[S1, P1]``), ``confusion`` (1x1, 4C -> C).
    ``confusion_bias=False`` is the first public release of the Y code (``old/*/model.py``).
    """

    def __init__(self, n_feats: int = 64, confusion_bias: bool = True) -> None:
        super().__init__()
        self.conv_3_1 = default_conv(n_feats, n_feats, 3)
        self.conv_3_2 = default_conv(2 * n_feats, 2 * n_feats, 3)
        self.conv_5_1 = default_conv(n_feats, n_feats, 5)
        self.conv_5_2 = default_conv(2 * n_feats, 2 * n_feats, 5)
        self.confusion = nn.Conv2d(4 * n_feats, n_feats, 1, bias=confusion_bias)

    def forward(self, x: Tensor) -> Tensor:
        s1 = torch.relu(self.conv_3_1(x))
        p1 = torch.relu(self.conv_5_1(x))
        crossed = torch.cat([s1, p1], 1)  # the cross connection: both paths see both scales
        s2 = torch.relu(self.conv_3_2(crossed))
        p2 = torch.relu(self.conv_5_2(crossed))
        return self.confusion(torch.cat([s2, p2], 1)) + x  # S' + M_{n-1}


# ---------------------------------------------------------------------------------------------------------------
# RGB re-training in the EDSR framework (MSRN/Train/model/msrn.py) — the golden / released-weights variant
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MSRNConfig:
    """Configuration of the RGB network (official ``MSRN(args)``).

    scale: upscaling factor (2^n or 3; the authors release x2, x3, x4, x8).
    n_feats, n_blocks: width and number of MSRBs. The official class hard-codes 64 and 8 and ignores
        ``args.n_feats``; other values exist only for tests (the golden files patch those two lines).
    n_colors: image channels (3; the mean shift is RGB).
    rgb_range: the value of white (255 in the released models).
    meanshift_trainable: ``True`` reproduces the official code, whose ``requires_grad = False`` on the module is a
        no-op, so the 24 ``sub_mean`` / ``add_mean`` parameters train.
    """

    scale: int = 2
    n_feats: int = 64
    n_blocks: int = 8
    n_colors: int = 3
    rgb_range: float = 255.0
    meanshift_trainable: bool = True
    # Ablations (chapter 7); the defaults are the official network.
    plain_blocks: int = 0  # > 0: every MSRB becomes this many plain residual blocks (EDSR's, 3x3 only)
    hierarchical_fusion: bool = True  # False: the tail sees only the last block's output M_n, not [M_1..M_n, M_0]


#: Plain residual blocks (two 3x3 convolutions, 18 C^2 weights) whose weights equal one MSRB's (174 C^2) most closely.
PLAIN_BLOCKS_PER_MSRB = 10


class MSRN(nn.Module):
    """MSRN as retrained by the authors on RGB (official ``MSRN/Train/model/msrn.py``, class ``MSRN``).

    ``sub_mean -> head (conv3) -> body (n_blocks MSRBs) -> cat[M1..Mn, M0] -> tail -> add_mean`` with
    ``tail = [conv1x1 (C(n+1) -> C), conv3, Upsampler, conv3 (C -> n_colors)]``. Note the concatenation order:
    the head output ``M0`` goes *last* (the Y code puts it first).
    """

    def __init__(self, config: MSRNConfig = MSRNConfig()) -> None:
        super().__init__()
        if config.n_colors != 3:
            raise ConfigError(f"MSRN (RGB) needs n_colors=3 for its mean shift, got {config.n_colors}; use MSRNY for Y")
        _check_scale(config.scale)
        self.config = config
        c = config.n_feats
        self.sub_mean = MeanShift(config.rgb_range, sign=-1, trainable=config.meanshift_trainable)
        self.head = nn.Sequential(default_conv(config.n_colors, c, 3))
        self.body = nn.Sequential(*[MSRB(c) if not config.plain_blocks else
                                    nn.Sequential(*[ResBlock(c, 3) for _ in range(config.plain_blocks)])
                                    for _ in range(config.n_blocks)])
        fused = config.n_blocks + 1 if config.hierarchical_fusion else 1
        self.tail = nn.Sequential(
            nn.Conv2d(c * fused, c, 1),  # hierarchical feature fusion (bottleneck)
            default_conv(c, c, 3),
            Upsampler(config.scale, c),
            default_conv(c, config.n_colors, 3),
        )
        self.add_mean = MeanShift(config.rgb_range, sign=1, trainable=config.meanshift_trainable)

    def forward(self, x: Tensor) -> Tensor:
        m0 = self.head(self.sub_mean(x))  # shallow feature M0
        outs, m = [], m0
        for block in self.body:  # M_i = MSRB_i(M_{i-1})
            m = block(m)
            outs.append(m)
        outs.append(m0)  # official order: [M1, ..., Mn, M0]
        fused = torch.cat(outs, 1) if self.config.hierarchical_fusion else m
        return self.add_mean(self.tail(fused))


# ---------------------------------------------------------------------------------------------------------------
# The paper's Y-channel code (OLD/model.py)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MSRNYConfig:
    """Configuration of the paper's Y-channel network (official ``OLD/model.py``).

    scale: upscaling factor. The code upsamples in *one* step, conv3 (C -> C*s^2) + PixelShuffle(s), for every
        scale (``OLD/model.py`` is written for x2; the first release's ``old/{4,8}/model.py`` use the same
        single step with PixelShuffle(4) / PixelShuffle(8)).
    n_feats, n_blocks: 64 and 8 in the paper (hard-coded in the official code).
    bias: ``True`` is ``OLD/model.py`` at the pinned commit. ``False`` is the first release
        (``old/{2,4,8}/model.py`` @5159968), where ``conv_input``, every MSRB's ``confusion``, ``bottle``, the
        upsampling ``conv`` and ``conv_output`` have no bias. (That release also calls the upsampling layers
        ``conv_4x`` / ``conv_8x``; rename those keys when loading such a checkpoint.)
    """

    scale: int = 2
    n_feats: int = 64
    n_blocks: int = 8
    bias: bool = True


class MSRNY(nn.Module):
    """MSRN as in the paper: Y channel in [0, 1] (official ``OLD/model.py``, class ``MSRN``).

    ``conv_input -> residual1..n (each an nn.Sequential holding one MSRB) -> cat[M0, M1..Mn] -> bottle (1x1)
    -> conv + convt (PixelShuffle) -> conv_output``. Compared with :class:`MSRN`: no mean shift, ``M0`` first
    in the concatenation, no conv3 between the bottleneck and the upsampler, one-step sub-pixel upsampling.
    """

    def __init__(self, config: MSRNYConfig = MSRNYConfig()) -> None:
        super().__init__()
        _check_scale(config.scale)
        self.config = config
        c, s, bias = config.n_feats, config.scale, config.bias
        self.conv_input = nn.Conv2d(1, c, 3, padding=1, bias=bias)
        self.n_blocks = config.n_blocks
        for i in range(1, config.n_blocks + 1):
            self.add_module(f"residual{i}", nn.Sequential(MSRB(c, confusion_bias=bias)))
        self.bottle = nn.Conv2d(c * (config.n_blocks + 1), c, 1, bias=bias)  # hierarchical feature fusion
        self.conv = nn.Conv2d(c, c * s * s, 3, padding=1, bias=bias)
        self.convt = nn.PixelShuffle(s)
        self.conv_output = nn.Conv2d(c, 1, 3, padding=1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        m0 = self.conv_input(x)
        outs, m = [m0], m0  # official order: [M0, M1, ..., Mn]
        for i in range(1, self.n_blocks + 1):
            m = getattr(self, f"residual{i}")(m)
            outs.append(m)
        out = self.bottle(torch.cat(outs, 1))
        return self.conv_output(self.convt(self.conv(out)))


def _check_scale(scale: int) -> None:
    if not isinstance(scale, int) or scale < 2 or (scale & (scale - 1) != 0 and scale != 3):
        raise ConfigError(f"MSRN supports scales 2, 3, 4, 8 (2^n or 3), got {scale!r}")


# ---------------------------------------------------------------------------------------------------------------
# Official port (golden files: the RGB class) and registry presets
# ---------------------------------------------------------------------------------------------------------------


def _from_official_args(args: Mapping[str, Any]) -> MSRN:
    """Build :class:`MSRN` from the official ``args`` namespace as stored in the golden / manifest files.

    ``n_feats`` / ``n_blocks`` are hard-coded to 64 / 8 in the official class; the tiny golden files come from a
    class patched to read them from ``args``, so they are honoured when present. ``res_scale`` is unused.
    """
    scale = args["scale"]
    return MSRN(
        MSRNConfig(
            scale=int(scale[0] if isinstance(scale, (list, tuple)) else scale),
            n_feats=int(args.get("n_feats", 64)),
            n_blocks=int(args.get("n_blocks", 8)),
            n_colors=int(args.get("n_colors", 3)),
            rgb_range=float(args.get("rgb_range", 255)),
        )
    )


register_port(
    OfficialPort(
        golden_dir="msrn",
        source=f"{OFFICIAL_CODE}:MSRN/Train/model/msrn.py:MSRN",
        build=_from_official_args,
    )
)

_PAPER = "Li et al., Multi-scale Residual Network for Image Super-Resolution, ECCV 2018"
_WEIGHTS = tuple(
    WeightsEntry(model="msrn", scale=s, path=f"msrn/MSRN_x{s}.pt", format="state-dict",
                 source=f"{OFFICIAL_CODE}:MSRN/Test/model/MSRN_x{s}.pt",
                 url=github_raw_url(OFFICIAL_CODE, f"MSRN/Test/model/MSRN_x{s}.pt"),
                 homepage="https://www.jianguoyun.com/p/DQpSSlQQ19ySBxjH2IYB",
                 notes="the authors' RGB retraining (EDSR code base), shipped in the repository; no hash known "
                       "here, so fetching needs allow_unverified")
    for s in SCALES
)

register_model(
    ModelEntry(
        name="msrn",
        family="msrn",
        paper=_PAPER,
        build=lambda scale: MSRN(MSRNConfig(scale=scale)),
        build_tiny=lambda scale: MSRN(MSRNConfig(scale=scale, n_feats=8, n_blocks=2)),
        make=lambda scale, **options: MSRN(MSRNConfig(scale=scale, **options)),
        scales=SCALES,
        input=InputSpec(color="rgb", pre_upsample=False, pixel_max=255.0),
        description="MSRN retrained by the authors on RGB (MSRN/ code, released MSRN_x*.pt weights)",
        paper_name="MSRN",
        paper_variant="MSRN retrained on RGB",
        official_code=OFFICIAL_CODE,
        weights=_WEIGHTS,
    )
)

register_model(
    ModelEntry(
        name="msrn-y",
        family="msrn",
        paper=_PAPER,
        build=lambda scale: MSRNY(MSRNYConfig(scale=scale)),
        build_tiny=lambda scale: MSRNY(MSRNYConfig(scale=scale, n_feats=8, n_blocks=2)),
        make=lambda scale, **options: MSRNY(MSRNYConfig(scale=scale, **options)),
        scales=SCALES,
        input=InputSpec(color="y", pre_upsample=False, pixel_max=1.0),
        description="MSRN as in the paper: Y channel, OLD/ code (the README's 'old (paper)' numbers)",
        paper_name="MSRN",
        paper_variant="MSRN paper",
        official_code=OFFICIAL_CODE,
    )
)
