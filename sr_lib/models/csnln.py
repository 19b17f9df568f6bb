"""CSNLN — Mei, Fan, Zhou, Huang, Huang, Shi: "Image Super-Resolution with Cross-Scale Non-Local Attention and
Exhaustive Self-Exemplars Mining" (CVPR 2020).

Official code: SHI-Labs/Cross-Scale-Non-Local-Attention (:data:`OFFICIAL_CODE`)
(``src/model/csnln.py``, ``src/model/attention.py``, the repo's own ``src/model/common.py`` and
``src/model/utils/tools.py``). Module and attribute names are the official ones, so official checkpoints load with
``strict=True`` (``SEM``, ``multi_source_projection``, ``up_attention``, ``conv_match_1``, ``escape_NaN``, ...).

Attention (paper Sec. 3.1). The in-scale non-local attention (IS-NL, Eq. 1) of a feature map X is
``Z_ij = sum_gh softmax_gh(phi(X_ij, X_gh)) psi(X_gh)`` with the embedded-Gaussian similarity
``phi(a, b) = theta(a)^T delta(b)`` (Eq. 2). The cross-scale version (CS-NL, Eq. 3-4) matches X against its
bilinear down-scaled copy ``Y = X (down s)``: a query at (i, j) of X is compared with Y at (g, h), and what is
summed is not ``Y_gh`` but the *s-times larger* patch of X that ``Y_gh`` was made from, so the result is an
``s``-times up-scaled map. Eq. 4 is the patch-to-patch form: p x p query patches of X match p x p patches of Y, and
sp x sp patches of X are pasted back. In code (:class:`CrossScaleAttention`, p = 3):

    a   = PReLU(conv1x1(X))                      psi,   C -> C       (conv_assembly)
    q   = PReLU(conv1x1(X))                      theta, C -> C/2     (conv_match_1)
    k   = PReLU(conv1x1(bilinear(X, 1/s)))       delta, C -> C/2     (conv_match_2)
    w_l = l-th 3x3 patch of k ('same' zero padding, stride 1) / max(||patch||_2, escape_NaN = 1e-4)
    P   = softmax_l(10 * conv2d(zero_pad_1(q), {w_l}))    -> (N, L, H, W), L = (H/s)(W/s)
    r_l = l-th (3s)x(3s) patch of a ('same' zero padding = s per side, stride s)
    Z   = conv_transpose2d(P, {r_l}, stride=s, padding=s) / 6                     -> (N, C, sH, sW)

The patch matching is a convolution of the queries with the normalised key patches (cosine-like scores, scaled by
``softmax_scale = 10``); the weighted paste of the large patches is a transposed convolution whose kernels are the
patches themselves (the "fold" of overlapping 3s x 3s patches at stride s). The ``/ 6`` is a hard-coded constant
for every scale. :class:`NonLocalAttention` is Eq. 1 on the whole image (no 1/sqrt(d), no patch normalisation).

Self-Exemplars Mining cell (paper Sec. 3.2, Fig. 3/4; official ``RecurrentProjection``, one module called
``SEM``). Three sources are fused by mutual projection (:class:`MultisourceProjection`): the in-scale branch is
up-scaled by a deconvolution, ``Z_IN = up(IS-NL(L))``, the cross-scale branch is already up-scaled,
``Z_CS = CS-NL(L)``; their difference (what one source has and the other lacks) is encoded by a residual block and
added back, ``H' = Z_IN + ResBlock(Z_CS - Z_IN)``. The local branch enters by back-projection:
``H = H' + up(L - down(H'))``, and the next LR state is ``L' = post_conv(down(H))``. At x4 this is done in two x2
stages with a second projection (``multi_source_projection_2``, 8x8 stride-4 (de)convolutions).

Recurrent framework (paper Sec. 3.3, Fig. 2): **one** SEM cell with shared weights is unrolled ``depth`` times
(12 in the paper); every unrolled step's HR feature ``H_t`` is kept, and the tail convolves their concatenation
into the image: ``SR = add_mean(conv3x3([H_1, ..., H_depth]))``. Parameters therefore do not grow with depth,
except the tail's input width. There is no global skip and no interpolated input.

Official oddities reproduced here:

* ``MultisourceProjection`` builds its two attention modules with their default ``channel=128``, whatever
  ``n_feats`` is, so the unmodified class only runs with ``n_feats=128``. ``attention_channels=128`` (default)
  reproduces that; any other width raises :class:`ConfigError` at construction unless it equals ``n_feats``.
  ``attention_channels=None`` means "follow ``n_feats``": the patched class the tiny golden files were made with.
  For ``n_feats=128`` both give the same state dict and output (verified by the golden README).
* The LR height and width must be divisible by the attention up-factor u (2 at x2/x4, 3 at x3), otherwise the
  number of key patches (floor) differs from the number of pasted patches (ceil) and the official code crashes;
  here that is a one-line :class:`DataError`.
* ``escape_NaN`` is a persistent float32 buffer, hence a state-dict entry.
* The MeanShift parameters are frozen (this repo's ``common.MeanShift`` really sets ``requires_grad=False``).
* Test protocol: every official test command passes ``--chop``. The repo's ``Model.forward_chop`` (in
  ``src/model/__init__.py``, not in the network) *always* splits the LR image into four overlapping quadrants of
  ``h//2 + 10`` by ``w//2 + 10`` pixels, each rounded up to the next multiple of the scale (a full ``scale`` is
  added even when it is already a multiple), recursing while a quadrant has at least ``min_size = 3600`` pixels,
  and stitches the centres. Attention therefore sees tiles of at most about 60 x 60 LR pixels; the paper's numbers
  come from that protocol, which is a different function from the whole-image forward (``tile_safe=False``).
  :func:`forward_chop` reproduces it; ``ModelEntry.predict`` is the whole-image forward of the golden files.
  Its quadrants are multiples of the scale, hence of u, so it also runs on LR sizes the whole-image forward refuses.
* Unused official options: ``average=False`` (hard arg-max attention) and ``stride != 1`` are never used by
  ``CSNLN`` and are not ported.

Equation, section and figure numbers are those of the CVPR paper as we know it; shared/papers holds no copy of
this paper, so they were not re-checked against its text (the supplementary material numbers its own equations).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError
from ..hub import WeightsEntry
from .blocks import MeanShift, ResBlock, default_conv
from .official import OfficialPort, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "SHI-Labs/Cross-Scale-Non-Local-Attention@531aec924746f8b9085be8c601a6af757b630070"
SCALES: tuple[int, ...] = (2, 3, 4)

#: Attention up-factor u and the (kernel, stride, padding) of the first-stage (de)convolutions, per scale.
#: x4 runs two x2 stages; its second stage uses 8x8 kernels, stride 4, padding 2.
_STAGE: dict[int, tuple[int, tuple[int, int, int]]] = {2: (2, (6, 2, 2)), 3: (3, (9, 3, 3)), 4: (2, (6, 2, 2))}


def _conv_prelu(cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int | None = None) -> nn.Sequential:
    """Convolution + PReLU (official ``common.BasicBlock`` / the strided ``down_sample_*``): keys ``0``, ``1``."""
    pad = kernel_size // 2 if padding is None else padding
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=pad), nn.PReLU())


def _deconv_prelu(channels: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    """Transposed convolution + PReLU (official ``upsample`` / ``error_encode*``): keys ``0``, ``1``."""
    deconv = nn.ConvTranspose2d(channels, channels, kernel_size, stride=stride, padding=padding)
    return nn.Sequential(deconv, nn.PReLU())


def same_padding(x: Tensor, ksize: int, stride: int) -> Tensor:
    """TensorFlow-style 'same' zero padding for a ``ksize`` window at ``stride`` (extra pixel bottom/right)."""
    pads: list[int] = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: width first
        out = (size + stride - 1) // stride
        total = max(0, (out - 1) * stride + ksize - size)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def extract_image_patches(x: Tensor, ksize: int, stride: int) -> Tensor:
    """All ``ksize x ksize`` patches at ``stride`` with 'same' padding, as ``(N, L, C, ksize, ksize)``.

    ``L`` runs over patch positions in row-major order (the ``nn.Unfold`` order of the official helper).
    """
    n, c = x.shape[:2]
    cols = F.unfold(same_padding(x, ksize, stride), kernel_size=ksize, stride=stride)  # (N, C*k*k, L)
    return cols.view(n, c, ksize, ksize, -1).permute(0, 4, 1, 2, 3)


class NonLocalAttention(nn.Module):
    """In-scale non-local attention (IS-NL, paper Eq. 1-2) over the whole image; official ``NonLocalAttention``."""

    def __init__(self, channel: int = 128, reduction: int = 2) -> None:
        super().__init__()
        self.conv_match1 = _conv_prelu(channel, channel // reduction, 1)  # theta
        self.conv_match2 = _conv_prelu(channel, channel // reduction, 1)  # delta
        self.conv_assembly = _conv_prelu(channel, channel, 1)  # psi

    def attention_probs(self, x: Tensor) -> Tensor:
        """``softmax_keys(theta(x)^T delta(x))`` as ``(N, HW queries, HW keys)``; rows sum to 1."""
        query = self.conv_match1(x).flatten(2).transpose(1, 2)  # (N, HW, C/2)
        key = self.conv_match2(x).flatten(2)  # (N, C/2, HW)
        return torch.softmax(torch.matmul(query, key), dim=2)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        value = self.conv_assembly(x).flatten(2).transpose(1, 2)  # (N, HW, C)
        out = torch.matmul(self.attention_probs(x), value)  # (N, HW, C)
        return out.transpose(1, 2).reshape(n, -1, h, w)


class CrossScaleAttention(nn.Module):
    """Cross-scale non-local attention (CS-NL, paper Eq. 3-4, Fig. 3); official ``CrossScaleAttention``.

    Maps (N, C, H, W) to (N, C, scale*H, scale*W). H and W must be divisible by ``scale``. Each sample attends only
    to itself (the official code loops over the batch; here the loop is a grouped convolution).
    """

    def __init__(
        self, channel: int = 128, scale: int = 3, reduction: int = 2, ksize: int = 3, softmax_scale: float = 10.0
    ) -> None:
        super().__init__()
        self.scale = scale
        self.ksize = ksize
        self.softmax_scale = softmax_scale
        self.register_buffer("escape_NaN", torch.tensor([1e-4], dtype=torch.float32))
        self.conv_match_1 = _conv_prelu(channel, channel // reduction, 1)  # theta (queries, on X)
        self.conv_match_2 = _conv_prelu(channel, channel // reduction, 1)  # delta (keys, on Y = X down s)
        self.conv_assembly = _conv_prelu(channel, channel, 1)  # psi (values, large patches of X)

    def attention_probs(self, x: Tensor) -> Tensor:
        """Matching probabilities ``(N, L, H, W)``: for every query position of X, a softmax over the L key patches."""
        n, _, h, w = x.shape
        s, k = self.scale, self.ksize
        if h % s or w % s:
            raise DataError(f"cross-scale attention needs feature height and width divisible by {s}, got {h}x{w}")
        query = self.conv_match_1(x)
        ref = self.conv_match_2(F.interpolate(x, scale_factor=1.0 / s, mode="bilinear"))
        keys = extract_image_patches(ref, k, 1)  # (N, L, C/2, k, k), L = (H/s)(W/s)
        norms = keys.pow(2).sum(dim=(2, 3, 4), keepdim=True).sqrt()
        keys = keys / torch.maximum(norms, self.escape_NaN)
        num_keys = keys.shape[1]
        # every sample's queries correlated with its own keys: one grouped convolution over the batch
        scores = F.conv2d(
            same_padding(query, k, 1).reshape(1, -1, h + k - 1, w + k - 1), keys.flatten(0, 1), groups=n
        ).view(n, num_keys, h, w)
        return torch.softmax(scores * self.softmax_scale, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        s = self.scale
        assembly = self.conv_assembly(x)
        probs = self.attention_probs(x)
        patches = extract_image_patches(assembly, s * self.ksize, s)  # (N, L, C, 3s, 3s)
        out = F.conv_transpose2d(
            probs.reshape(1, -1, h, w), patches.flatten(0, 1), stride=s, padding=s, groups=n
        )  # paste each large patch, weighted by its matching probability
        return out.view(n, -1, s * h, s * w) / 6.0


class MultisourceProjection(nn.Module):
    """Mutual-projected fusion of the in-scale and cross-scale branches (paper Sec. 3.2, Fig. 4).

    ``H' = Z_IN + ResBlock(Z_CS - Z_IN)`` with ``Z_IN = PReLU(deconv(IS-NL(L)))`` and ``Z_CS = CS-NL(L)``.
    """

    def __init__(self, in_channel: int, scale: int = 2, kernel_size: int = 3, attention_channels: int = 128,
                 cross_scale: bool = True) -> None:
        super().__init__()
        up_factor, (ksize, stride, padding) = _STAGE[scale]
        self.cross_scale = cross_scale
        # cross_scale=False (chapter 6's ablation): a second in-scale attention with the same parameters, up-scaled
        # by the same deconvolution as the first, takes the place of CS-NL
        self.up_attention: nn.Module = (CrossScaleAttention(channel=attention_channels, scale=up_factor)
                                        if cross_scale else NonLocalAttention(channel=attention_channels))
        self.down_attention = NonLocalAttention(channel=attention_channels)
        self.upsample = _deconv_prelu(in_channel, ksize, stride, padding)
        self.encoder = ResBlock(in_channel, kernel_size, act=nn.PReLU())

    def forward(self, x: Tensor) -> Tensor:
        down_map = self.upsample(self.down_attention(x))  # Z_IN, up-scaled in-scale attention
        # Z_CS, cross-scale attention (already up-scaled)
        up_map = self.up_attention(x) if self.cross_scale else self.upsample(self.up_attention(x))
        return down_map + self.encoder(up_map - down_map)


class RecurrentProjection(nn.Module):
    """The Self-Exemplars Mining cell (paper Fig. 3): fusion + back-projection with the local branch.

    Returns ``(next LR state, HR feature H)``. At x4 two x2 stages (``*_2``, ``down_sample_3/4``) are chained.
    """

    def __init__(self, in_channel: int, scale: int = 2, kernel_size: int = 3, attention_channels: int = 128,
                 cross_scale: bool = True) -> None:
        super().__init__()
        self.scale = scale
        _, (ksize, stride, padding) = _STAGE[scale]
        c = in_channel
        self.multi_source_projection = MultisourceProjection(c, scale, kernel_size, attention_channels, cross_scale)
        self.down_sample_1 = _conv_prelu(c, c, ksize, stride, padding)
        if scale != 4:
            self.down_sample_2 = _conv_prelu(c, c, ksize, stride, padding)
        self.error_encode = _deconv_prelu(c, ksize, stride, padding)
        self.post_conv = _conv_prelu(c, c, kernel_size)
        if scale == 4:
            self.multi_source_projection_2 = MultisourceProjection(c, scale, kernel_size, attention_channels,
                                                                   cross_scale)
            self.down_sample_3 = _conv_prelu(c, c, 8, 4, 2)
            self.down_sample_4 = _conv_prelu(c, c, 8, 4, 2)
            self.error_encode_2 = _deconv_prelu(c, 8, 4, 2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x_up = self.multi_source_projection(x)  # H'
        h = x_up + self.error_encode(x - self.down_sample_1(x_up))  # back-project the LR residual
        if self.scale == 4:  # second x2 stage, from the x2 feature to x4
            x_up_2 = self.multi_source_projection_2(h)
            h = x_up_2 + self.error_encode_2(x - self.down_sample_3(x_up_2))
            return self.post_conv(self.down_sample_4(h)), h
        return self.post_conv(self.down_sample_2(h)), h


class CSNLN(nn.Module):
    """Cross-Scale Non-Local Network: head, one SEM cell unrolled ``depth`` times, tail on all HR features.

    RGB input in [0, ``rgb_range``] (the official default ``rgb_range=1``). ``attention_channels``: width of the
    attention modules; 128 = official (hard-coded, requires ``n_feats=128``), ``None`` = ``n_feats`` (patched).
    ``cross_scale=False`` replaces every CS-NL by an in-scale attention of the same size (the ablation of chapter 6).
    """

    def __init__(
        self,
        scale: int,
        n_feats: int = 128,
        depth: int = 12,
        rgb_range: float = 1.0,
        attention_channels: int | None = 128,
        cross_scale: bool = True,
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"CSNLN supports x2, x3, x4, not x{scale}")
        if depth < 1 or n_feats < 2:
            raise ConfigError(f"CSNLN needs depth >= 1 and n_feats >= 2, got depth={depth}, n_feats={n_feats}")
        width = n_feats if attention_channels is None else attention_channels
        if width != n_feats:
            raise ConfigError(
                f"CSNLN with attention_channels={width} needs n_feats={width} (the official class hard-codes "
                f"channel=128 in its attention modules); pass attention_channels=None to follow n_feats={n_feats}"
            )
        self.scale = scale
        self.depth = depth
        self.up_factor = _STAGE[scale][0]
        self.sub_mean = MeanShift(rgb_range, sign=-1, trainable=False)
        self.SEM = RecurrentProjection(n_feats, scale, 3, width, cross_scale)  # one cell, shared over the depth iterations
        self.add_mean = MeanShift(rgb_range, sign=1, trainable=False)
        self.head = nn.Sequential(_conv_prelu(3, n_feats, 3), _conv_prelu(n_feats, n_feats, 3))
        self.tail = nn.Sequential(default_conv(n_feats * depth, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        u = self.up_factor
        if h % u or w % u:
            raise DataError(
                f"CSNLN x{self.scale} needs LR height and width divisible by {u}, got {h}x{w} "
                "(crop, or use csnln.forward_chop, the official test protocol)"
            )
        x = self.head(self.sub_mean(x))
        bag = []
        for _ in range(self.depth):
            x, h_estimate = self.SEM(x)
            bag.append(h_estimate)
        return self.add_mean(self.tail(torch.cat(bag, dim=1)))


def forward_chop(
    fn: Callable[[Tensor], Tensor], x: Tensor, scale: int, shave: int = 10, min_size: int = 3600
) -> Tensor:
    """The official test-time ``Model.forward_chop`` of this repo (``--chop``): a different function from ``fn(x)``.

    Always splits the LR input into four overlapping quadrants of ``(h//2 + shave)`` x ``(w//2 + shave)`` pixels,
    each side then increased to the next multiple of ``scale`` (by a full ``scale`` if already a multiple, as the
    official code does), recursing while a quadrant has ``>= min_size`` pixels; the SR quadrants' outer parts are
    stitched together. ``fn`` is the network call (e.g. ``lambda t: model(t)``), so this plugs into
    ``evaluate.super_resolve(forward=functools.partial(forward_chop, scale=s))``. Tiles run one at a time
    (the official batches ``n_GPUs`` tiles; attention is per sample, so the result is the same).
    """
    b, c, h, w = x.shape
    h_half, w_half = h // 2, w // 2
    h_size, w_size = h_half + shave, w_half + shave
    h_size += scale - h_size % scale
    w_size += scale - w_size % scale
    if h_size > h or w_size > w:
        raise DataError(f"forward_chop needs a larger LR input than {h}x{w} (quadrant {h_size}x{w_size}) at x{scale}")
    tiles = [
        x[:, :, :h_size, :w_size],
        x[:, :, :h_size, w - w_size :],
        x[:, :, h - h_size :, :w_size],
        x[:, :, h - h_size :, w - w_size :],
    ]
    if h_size * w_size < min_size:
        srs = [fn(t) for t in tiles]
    elif (h_size, w_size) == (h, w):  # the official code would recurse forever here
        raise DataError(f"forward_chop cannot split {h}x{w} below min_size={min_size} at x{scale}")
    else:
        srs = [forward_chop(fn, t, scale, shave, min_size) for t in tiles]

    h, w, h_half, w_half, h_size, w_size = (scale * v for v in (h, w, h_half, w_half, h_size, w_size))
    out = x.new_empty(b, srs[0].shape[1], h, w)
    out[:, :, :h_half, :w_half] = srs[0][:, :, :h_half, :w_half]
    out[:, :, :h_half, w_half:] = srs[1][:, :, :h_half, w_size - w + w_half :]
    out[:, :, h_half:, :w_half] = srs[2][:, :, h_size - h + h_half :, :w_half]
    out[:, :, h_half:, w_half:] = srs[3][:, :, h_size - h + h_half :, w_size - w + w_half :]
    return out


def _from_official_args(args: Mapping[str, Any]) -> CSNLN:
    """Official ``args`` (``n_feats, depth, scale=[s], rgb_range, n_colors``) -> our module.

    The golden README: the manifests come from the unmodified class (n_feats=128), the tiny goldens (n_feats=16,
    config ``patch`` field) from the patched class whose attention width follows n_feats. The unmodified class
    cannot run with n_feats != 128 and for n_feats == 128 the two are identical, so: width 128 when n_feats is
    128 (official), otherwise follow n_feats (patched).
    """
    scales = list(args["scale"])
    if len(scales) != 1 or args.get("n_colors", 3) != 3:
        raise ConfigError(f"CSNLN port expects one scale and n_colors=3, got {dict(args)}")
    n_feats = int(args["n_feats"])
    return CSNLN(
        scale=int(scales[0]),
        n_feats=n_feats,
        depth=int(args["depth"]),
        rgb_range=float(args.get("rgb_range", 1)),
        attention_channels=128 if n_feats == 128 else None,
    )


register_port(
    OfficialPort(golden_dir="csnln", source=f"{OFFICIAL_CODE}:src/model/csnln.py:CSNLN", build=_from_official_args)
)

_WEIGHTS = tuple(
    WeightsEntry(model="csnln", scale=s, path=f"csnln/model_x{s}.pt", format="state-dict",
                 source=f"{OFFICIAL_CODE}:README.md (Test, Quick start)",
                 homepage="https://drive.google.com/drive/folders/1C--KFcfAsvLM4K0J6td4TqNeiaGsTXd_?usp=sharing",
                 notes="manual download from the Google Drive folder (file name as in the README's test command); "
                       "no published hash")
    for s in SCALES
)

register_model(
    ModelEntry(
        name="csnln",
        family="csnln",
        paper="Mei et al., Image Super-Resolution with Cross-Scale Non-Local Attention and Exhaustive "
        "Self-Exemplars Mining, CVPR 2020",
        build=lambda scale: CSNLN(scale=scale, n_feats=128, depth=12),
        build_tiny=lambda scale: CSNLN(scale=scale, n_feats=8, depth=2, attention_channels=None),
        make=lambda scale, **options: CSNLN(scale=scale, **{"n_feats": 128, "depth": 12, **options}),
        scales=SCALES,
        input=InputSpec(color="rgb", pre_upsample=False, pixel_max=1.0),
        tile_safe=False,
        description="CSNLN (n_feats 128, depth 12, one shared SEM cell); whole-image forward. The paper's test "
        "protocol is csnln.forward_chop (extra['official_test_forward'])",
        # LR sides divisible by 6: by 2 for the x2/x4 attention, by 3 for x3
        extra={"tiny_input_hw": (12, 6), "official_test_forward": forward_chop},
        paper_name="CSNLN",
        official_code=OFFICIAL_CODE,
        weights=_WEIGHTS,
    )
)
