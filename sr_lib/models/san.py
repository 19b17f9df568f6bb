"""SAN — Dai, Cai, Zhang, Xia, Zhang: "Second-order Attention Network for Single Image Super-Resolution"
(CVPR 2019). Official code: daitao/SAN (:data:`OFFICIAL_CODE`), ``TrainCode/model/san.py``
(class ``SAN``) + ``model/common.py`` + ``model/MPNCOV/python/MPNCOV.py`` (the TestCode copies are identical).

The network (paper Sec. 3.1-3.2, Fig. 2)::

    F_0  = head(sub_mean(I_LR))                         shallow features, conv3x3
    X_0  = RL_NL(F_0)                                   region-level non-local module
    X_g  = LSRAG_g(X_{g-1}) + gamma * X_0, g = 1..G     share-source skip connections (SSRG)
    F_DF = RL_NL(X_G) + F_0                             the SAME RL-NL module again, then the long skip
    I_SR = add_mean(tail(F_DF))                         ESPCN upsampler + conv3x3

* LSRAG (local-source residual attention group): ``y = conv_last(SOCA(RB_M(...RB_1(x)))) + x`` with the
  residual block ``RB(x) = x + conv(relu(conv(x)))``.
* SOCA (second-order channel attention, Sec. 3.3, Fig. 3): the channel statistic is not the mean (RCAN) but
  the *normalised covariance* of the features. With X the C x M matrix of the M = H*W feature vectors,
  ``Sigma = X I_bar X^T`` with ``I_bar = (1/M)(I - (1/M) 1 1^T)`` (the biased, 1/M, covariance), then
  ``Y = Sigma^(1/2)``, ``z = mean over the rows of Y`` (global covariance pooling), and the RCAN gate
  ``w = sigmoid(W_U relu(W_D z))``, output ``w * x``.
* Covariance normalisation (Sec. 3.4): the square root is not an eigendecomposition but the coupled
  Newton-Schulz iteration of iSQRT-COV (Li et al., CVPR 2018) with *pre-normalisation* by the trace
  ``A = Sigma / tr(Sigma)`` and *post-compensation* ``Y = sqrt(tr(Sigma)) Y_N``; the official code uses
  ``iterN = 5`` (see :func:`sqrtm_newton_schulz`). The trace normalisation puts the eigenvalues of A in
  (0, 1] summing to 1; five iterations only approximate the square root of the small ones (with 64 channels a
  typical eigenvalue of A is ~1/64), so the network uses a smooth spectral function close to, not equal to,
  ``Sigma^(1/2)``. We reproduce the code.
* RL-NL (region-level non-local, Sec. 3.2): the feature map is divided into a grid of regions and the same
  embedded-Gaussian non-local block (Wang et al., CVPR 2018) is applied to each region independently; the
  code fixes the grid to 2 x 2 (``Nonlocal_CA``).

Where the official code departs from the paper or from what it says (all reproduced by default):

* **One RL-NL module, used twice.** Fig. 2 draws an RL-NL at the start and at the end of the NLRG; the code
  calls the same ``non_local`` module (shared weights) at both places.
* **Quadrants.** ``Nonlocal_CA`` splits at ``H1 = int(H/2)``, ``W1 = int(W/2)`` (top/left quadrants get the
  floor) and writes the four results back; attention never crosses a quadrant border, so the function depends
  on the image size.
* **Sub-sampling bug.** ``_NonLocalBlockND`` rebinds its local ``sub_sample`` to ``nn.Upsample`` for 2-D inputs,
  so ``if sub_sample:`` is always true: ``g`` and ``phi`` get a ``MaxPool2d(2)`` (floor) although SAN passes
  ``sub_sample=False``. Keys: ``non_local.non_local.g.0.*``, ``phi.0.*``, but ``theta.*``. No BN in ``W``
  (``bn_layer=False``); inter channels ``C // 8``; the attention logits are not scaled.
* **Registered but unused parameters** (in the state dict, never in the forward; 38,044 at the paper
  configuration): the SAN-level ``conv_last`` (36,928), every ``RG.<i>.gamma`` (the groups use the SAN-level
  ``gamma`` instead), and ``non_local.soca`` (a SOCA built inside ``Nonlocal_CA`` that is never called).
  They are listed in the registry entry's ``params_without_grad``; distributed training needs
  ``find_unused_parameters=True``.
* **Share-source weight.** The weight of the share-source skip connection is one learnable scalar ``gamma``
  shared by all groups,
  initialised to 0; the non-local output conv ``W`` is zero-initialised too (identity block at start).
* **Large inputs.** SOCA computes its statistics on a centred 1000-pixel crop when H or W >= 1000
  (attention is still applied to the whole map), with the official branch logic reproduced exactly, including
  its quirk at a side of exactly 1000: for ``H == 1000, W < 1000`` the "crop" slices the columns from the
  negative start ``(W - 1000) // 2``, which keeps only the last ``ceil((1000 - W) / 2)`` columns (columns
  400..599 of a 600-wide map; all of them when W <= 333); symmetrically for ``W == 1000, H < 1000``.
  See :func:`soca_statistics_window`.
* ``common.MeanShift``'s ``requires_grad = False`` is a no-op: the 24 MeanShift parameters train.
* ``SOCA.max_pool``, ``RB.gamma1`` and the ``CALayer`` class of ``san.py`` exist but hold no parameters and are
  unused; they are omitted here.

Numerical notes. ``MPNCOV.Covpool`` builds the M x M centring matrix ``I_bar`` explicitly (memory O(M^2), so
the official code cannot run SOCA on a whole large image); we compute the same matrix as
``(X - mean)(X - mean)^T / M`` (equal up to rounding, and more accurate in float32). ``MPNCOV.Sqrtm``
allocates its buffers with the default dtype (a float64 model fails unless ``torch.set_default_dtype(float64)``);
ours uses the input's dtype and device. Gradients come from autograd through the same operations (the
official hand-written backward computes the same derivative).

Paper configuration: G = 20 LSRAGs, M = 10 residual blocks, 64 features, reduction 16 (~15.7M parameters);
input RGB in [0, 255].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..hub import WeightsEntry
from .blocks import CALayer, MeanShift, Upsampler, default_conv
from .official import OfficialPort, check_official_args, register_port, single_scale
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "daitao/SAN@7c1e61f0d17b58e3400a14e631d9185dde1881b6"

#: SOCA computes its statistics on a centred crop of at most this many pixels per side (official ``h1 = w1``).
SOCA_MAX_SIDE = 1000


# --------------------------------------------------------------------------------------------------------------
# Second-order statistics: covariance pooling and the Newton-Schulz matrix square root (MPNCOV)
# --------------------------------------------------------------------------------------------------------------


def covariance_pool(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, C, C)``: ``X I_bar X^T`` with ``I_bar = (I - 11^T/M)/M``, M = H*W (MPNCOV Covpool)."""
    b, c, h, w = x.shape
    m = h * w
    feats = x.reshape(b, c, m)
    centred = feats - feats.mean(dim=2, keepdim=True)
    return centred.bmm(centred.transpose(1, 2)) / m


def sqrtm_newton_schulz(cov: Tensor, iterations: int = 5) -> Tensor:
    """Approximate square root of each SPD matrix in ``(B, C, C)`` (MPNCOV ``Sqrtm``, ``iterN = iterations``).

    Pre-normalise ``A = cov / tr(cov)``; with ``T = (3I - A)/2``, start ``Y = A T``, ``Z = T``; repeat
    ``iterations - 2`` times ``T = (3I - Z Y)/2, Y = Y T, Z = T Z``; finish with ``Y = Y (3I - Z Y)/2`` and
    post-compensate by ``sqrt(tr(cov))``. ``Y -> A^(1/2)`` and ``Z -> A^(-1/2)`` as the iterations grow. All
    buffers take ``cov``'s dtype and device.
    """
    if iterations < 2:
        # the official iterN < 2 branch returns (3I - A)/2, not a square root; not reproduced
        raise ConfigError(f"Newton-Schulz square root needs at least 2 iterations, got {iterations}")
    b, c, _ = cov.shape
    i3 = 3.0 * torch.eye(c, dtype=cov.dtype, device=cov.device).expand(b, c, c)
    norm = cov.diagonal(dim1=1, dim2=2).sum(dim=1).view(b, 1, 1)  # tr(Sigma)
    a = cov / norm
    t = 0.5 * (i3 - a)
    y = a.bmm(t)
    z = t
    for _ in range(iterations - 2):
        t = 0.5 * (i3 - z.bmm(y))
        y = y.bmm(t)
        z = t.bmm(z)
    y = 0.5 * y.bmm(i3 - z.bmm(y))
    return y * norm.sqrt()


def sqrtm_eigh(cov: Tensor) -> Tensor:
    """The exact square root of each symmetric PSD matrix of ``(B, C, C)`` by eigendecomposition (negative rounding
    errors -> 0): the reference :func:`sqrtm_newton_schulz` approximates (chapter 5, ``benchmarks/newton_schulz.py``)."""
    eigenvalues, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag_embed(eigenvalues.clamp(min=0).sqrt()) @ vectors.transpose(-1, -2)


def soca_statistics_window(h: int, w: int, max_side: int = SOCA_MAX_SIDE) -> tuple[slice, slice]:
    """Rows and columns whose covariance SOCA uses, exactly as the official branches (Python slice semantics).

    Both sides < max_side: everything. Otherwise a centred ``max_side`` crop of the long side(s), except at a
    side of exactly ``max_side`` next to a shorter one, where the official ``else`` branch slices the shorter
    side from a negative start (see the module docstring).
    """
    rows, cols = slice(None), slice(None)
    if h < max_side and w < max_side:
        pass
    elif h < max_side and w > max_side:
        left = (w - max_side) // 2
        cols = slice(left, left + max_side)
    elif w < max_side and h > max_side:
        top = (h - max_side) // 2
        rows = slice(top, top + max_side)
    else:
        top, left = (h - max_side) // 2, (w - max_side) // 2
        rows, cols = slice(top, top + max_side), slice(left, left + max_side)
    return rows, cols


class SOCA(nn.Module):
    """Second-order channel attention: ``x * sigmoid(W_U relu(W_D mean_rows(sqrtm(cov(x)))))``."""

    def __init__(self, channel: int, reduction: int = 8, iterations: int = 5, max_side: int = SOCA_MAX_SIDE) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )
        self.iterations = iterations
        self.max_side = max_side

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        rows, cols = soca_statistics_window(h, w, self.max_side)
        cov = covariance_pool(x[:, :, rows, cols])
        cov_sqrt = sqrtm_newton_schulz(cov, self.iterations)
        z = cov_sqrt.mean(dim=1).view(b, c, 1, 1)  # global covariance pooling (official: mean over dim 1)
        return self.conv_du(z) * x


# --------------------------------------------------------------------------------------------------------------
# Region-level non-local module
# --------------------------------------------------------------------------------------------------------------


class NONLocalBlock2D(nn.Module):
    """Embedded-Gaussian non-local block as configured by SAN: ``x + W(softmax(theta^T phi) g)``.

    ``g`` and ``phi`` are sub-sampled by ``MaxPool2d(2)`` (the official sub-sampling bug, see the module
    docstring), ``W`` is a plain zero-initialised 1x1 conv. Keys: ``g.0``, ``W``, ``theta``, ``phi.0``.
    """

    def __init__(self, in_channels: int, inter_channels: int) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.g = nn.Sequential(nn.Conv2d(in_channels, inter_channels, 1), nn.MaxPool2d(kernel_size=2))
        self.W = nn.Conv2d(inter_channels, in_channels, 1)
        nn.init.zeros_(self.W.weight)
        nn.init.zeros_(self.W.bias)
        self.theta = nn.Conv2d(in_channels, inter_channels, 1)
        self.phi = nn.Sequential(nn.Conv2d(in_channels, inter_channels, 1), nn.MaxPool2d(kernel_size=2))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        g_x = self.g(x).view(b, self.inter_channels, -1).transpose(1, 2)  # (B, N', C')
        theta_x = self.theta(x).view(b, self.inter_channels, -1).transpose(1, 2)  # (B, N, C')
        phi_x = self.phi(x).view(b, self.inter_channels, -1)  # (B, C', N')
        attention = torch.softmax(theta_x.bmm(phi_x), dim=-1)  # (B, N, N'), no 1/sqrt(d) scaling
        y = attention.bmm(g_x).transpose(1, 2).reshape(b, self.inter_channels, h, w)
        return self.W(y) + x


class Nonlocal_CA(nn.Module):  # noqa: N801  (official class name)
    """RL-NL: the same non-local block on each of the 2 x 2 quadrants (split at ``int(H/2)``, ``int(W/2)``).

    ``soca`` is registered as in the official code but never used.
    """

    def __init__(self, in_feat: int = 64, inter_feat: int = 32, reduction: int = 8) -> None:
        super().__init__()
        self.soca = SOCA(in_feat, reduction=reduction)  # unused (official)
        self.non_local = NONLocalBlock2D(in_feat, inter_feat)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h < 4 or w < 4:
            raise DataError(f"SAN needs feature maps of at least 4x4 (2x2 regions, each max-pooled by 2), got {h}x{w}")
        h1, w1 = h // 2, w // 2
        top = torch.cat([self.non_local(x[:, :, :h1, :w1]), self.non_local(x[:, :, :h1, w1:])], dim=3)
        bottom = torch.cat([self.non_local(x[:, :, h1:, :w1]), self.non_local(x[:, :, h1:, w1:])], dim=3)
        return torch.cat([top, bottom], dim=2)


# --------------------------------------------------------------------------------------------------------------
# Residual blocks, groups and the network
# --------------------------------------------------------------------------------------------------------------


class RB(nn.Module):
    """Residual block ``x + conv(relu(conv(x)))``; keys ``conv_first.0``, ``conv_first.2``."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.conv_first = nn.Sequential(
            default_conv(n_feat, n_feat, 3), nn.ReLU(inplace=True), default_conv(n_feat, n_feat, 3)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_first(x) + x


class LSRAG(nn.Module):
    """Local-source residual attention group: ``x + conv_last(SOCA(RB_M(...RB_1(x))))``.

    ``gamma`` is registered (official init 0) but never used.
    """

    def __init__(self, n_feat: int, reduction: int, n_resblocks: int, second_order: bool = True) -> None:
        super().__init__()
        self.rcab = nn.ModuleList([RB(n_feat) for _ in range(n_resblocks)])  # official name, plain RBs
        # second_order=False: RCAN's first-order channel attention (average pooling) with the same parameters
        self.soca = SOCA(n_feat, reduction=reduction) if second_order else CALayer(n_feat, reduction)
        self.conv_last = default_conv(n_feat, n_feat, 3)
        self.gamma = nn.Parameter(torch.zeros(1))  # unused (official)

    def forward(self, x: Tensor) -> Tensor:
        y = x
        for block in self.rcab:
            y = block(y)
        return self.conv_last(self.soca(y)) + x


@dataclass(frozen=True)
class SANConfig:
    """Constructor arguments (official names; the official ``res_scale`` is ignored by the network)."""

    scale: int = 4
    n_resgroups: int = 20  # G
    n_resblocks: int = 10  # M
    n_feats: int = 64
    reduction: int = 16  # SOCA reduction inside the groups (the unused non_local.soca uses 8)
    rgb_range: float = 255.0
    second_order: bool = True  # False: first-order channel attention in the groups (chapter 5's ablation)

    def __post_init__(self) -> None:
        if self.scale < 2 or (self.scale & (self.scale - 1) != 0 and self.scale != 3):
            raise ConfigError(f"SAN upsampler supports scales 2, 3, 4, 8, ... (2^n or 3), not x{self.scale}")
        if self.n_feats < 8 or self.reduction < 1 or self.n_feats // self.reduction < 1:
            raise ConfigError(
                f"SAN: need n_feats >= 8 and n_feats // reduction >= 1 (got {self.n_feats}, {self.reduction})"
            )


class SAN(nn.Module):
    """SAN with the official module names, parameter order and unused parameters."""

    def __init__(self, config: SANConfig = SANConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.sub_mean = MeanShift(c.rgb_range, sign=-1, trainable=True)
        self.gamma = nn.Parameter(torch.zeros(1))  # share-source skip weight, one scalar for all groups
        self.RG = nn.ModuleList(
            [LSRAG(c.n_feats, c.reduction, c.n_resblocks, c.second_order) for _ in range(c.n_resgroups)]
        )
        self.conv_last = default_conv(c.n_feats, c.n_feats, 3)  # unused (official)
        self.add_mean = MeanShift(c.rgb_range, sign=1, trainable=True)
        self.non_local = Nonlocal_CA(in_feat=c.n_feats, inter_feat=c.n_feats // 8, reduction=8)
        self.head = nn.Sequential(default_conv(3, c.n_feats, 3))
        self.tail = nn.Sequential(Upsampler(c.scale, c.n_feats), default_conv(c.n_feats, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x))  # F_0
        xx = self.non_local(x)
        residual = xx
        for group in self.RG:
            xx = group(xx) + self.gamma * residual  # share-source skip connection
        res = self.non_local(xx) + x  # same RL-NL module again, long skip from F_0
        return self.add_mean(self.tail(res))


#: fnmatch patterns of the official parameters that never receive a gradient (38,044 values at the paper config).
UNUSED_PARAMETERS: tuple[str, ...] = ("conv_last.*", "RG.*.gamma", "non_local.soca.*")


# --------------------------------------------------------------------------------------------------------------
# Official port (golden tests) and registry presets
# --------------------------------------------------------------------------------------------------------------

_OFFICIAL_ARGS = {"scale", "n_resgroups", "n_resblocks", "n_feats", "reduction", "res_scale", "rgb_range", "n_colors"}


def config_from_official_args(args: Mapping[str, Any]) -> SANConfig:
    """Official ``args`` namespace fields (as stored in the golden/manifest files) -> :class:`SANConfig`."""
    args = check_official_args(args, _OFFICIAL_ARGS, "SAN")
    return SANConfig(
        scale=single_scale(args, "SAN"),
        n_resgroups=int(args.get("n_resgroups", 20)),
        n_resblocks=int(args.get("n_resblocks", 10)),
        n_feats=int(args.get("n_feats", 64)),
        reduction=int(args.get("reduction", 16)),
        rgb_range=float(args.get("rgb_range", 255)),
    )


register_port(
    OfficialPort(
        golden_dir="san",
        source=f"{OFFICIAL_CODE}:TrainCode/model/san.py:SAN",
        build=lambda args: SAN(config_from_official_args(args)),
    )
)

_PAPER = "Dai et al., Second-order Attention Network for Single Image Super-Resolution, CVPR 2019"
_WEIGHTS = tuple(
    WeightsEntry(model="san", scale=s, path=f"san/SAN_BIX{s}.pt", format="state-dict",
                 source=f"{OFFICIAL_CODE}:README.md (Test code)",
                 homepage="https://pan.baidu.com/s/1aTYG4Wy72MI-gCRGnJgkvQ",
                 notes="manual download from BaiduYun (password eq1v); no published hash")
    for s in (2, 3, 4, 8)
)

register_model(
    ModelEntry(
        name="san",
        family="san",
        paper=_PAPER,
        build=lambda scale: SAN(SANConfig(scale=scale)),
        build_tiny=lambda scale: SAN(SANConfig(scale=scale, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)),
        make=lambda scale, **options: SAN(SANConfig(scale=scale, **options)),
        scales=(2, 3, 4, 8),
        input=InputSpec(color="rgb", pre_upsample=False, pixel_max=255.0),
        tile_safe=False,  # quadrant non-local depends on the image size; SOCA statistics are image-wide
        params_without_grad=UNUSED_PARAMETERS,
        description="SAN (20 LSRAGs x 10 residual blocks, 64 features, reduction 16)",
        paper_name="SAN",
        official_code=OFFICIAL_CODE,
        weights=_WEIGHTS,
    )
)
