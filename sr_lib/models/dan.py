"""DAN — Deep Alternating Network for blind super-resolution, versions 1 and 2.

* DANv1: Luo, Huang, Li, Wang, Tan, "Unfolding the Alternating Optimization for Blind Super Resolution",
  NeurIPS 2020 (arXiv 2010.02631).
* DANv2: same authors, "End-to-end Alternating Optimization for Blind Super Resolution", arXiv 2105.06878
  (the later IJCV paper "... for Real-World Blind Super Resolution" is RealDAN, a different network).
* Official code: greatlog/DAN (:data:`OFFICIAL_CODE`),
  ``codes/config/DANv1/models/modules/dan_arch.py`` and ``codes/config/DANv2/models/modules/dan_arch.py``
  (class ``DAN`` in both). Module and buffer names here are the official ones, so official checkpoints load
  with ``strict=True``.

The alternating optimisation (paper Sec. 3; equation numbers as we recall the arXiv version — the paper body was
not available to us to check them, see ``papers/dan.md``):

* degradation (Eq. 1): ``y = (x (*) k) downarrow_s + n``;
* MAP estimate (Eq. 2): ``argmin_{k, x} ||y - (x (*) k) downarrow_s||_1 + phi(x)``;
* solved by alternating (Eq. 3-4): ``k_{i+1} = argmin_k ||y - (x_i (*) k) downarrow_s||_1`` and
  ``x_{i+1} = argmin_x ||y - (x (*) k_{i+1}) downarrow_s||_1 + phi(x)``;
* unfolded (Eq. 5-6, Fig. 2): the two sub-problems are replaced by two networks used ``loop`` times with shared
  weights, **Restorer** ``x_i = R(y, k_{i-1})`` and **Estimator** ``k_i = E(x_i, y)``, starting from the Dirac
  kernel ``k_0``. The kernel travels as its PCA code ``flattened_kernel @ encoder`` (``encoder``: k^2 x 10).

Code order per iteration (both versions)::

    sr  = Restorer(lr, stopgrad(ker_map))
    est = Estimator(stopgrad(sr), lr)          # v1: the 10-d code itself; v2: the full k*k kernel (softmax)
    ker_map = est                              # v1
    ker_map = est.view(B, 1, k*k) @ encoder    # v2

Training (``blind_model.py``) only uses the last iteration: v1 ``L1(SR_4, HR) + L1(code_4, code_GT)``, v2
``L1(SR_4, HR) + L1(kernel_4, kernel_GT)``. Because of the stop-gradients, the SR loss never reaches the
Estimator and the kernel loss never reaches the Restorer.

Blocks:

* **v1, conditional residual block (CRB)**: ``f <- f + CA(conv3(lrelu(conv3(cat[f, c]))))``, the condition ``c``
  (the kernel code broadcast to H x W in the Restorer, the SR features in the Estimator) passes through unchanged;
  ``CA`` = channel attention with LeakyReLU(0.2) and reduction 16 (so ``nf >= 16``).
* **v2, dual-path conditional block (DPCB)**: ``g1 = conv(lrelu(conv(f1)))``, ``g2 = conv(lrelu(conv(f2)))``,
  ``f1 <- f1 + g1 * g2``, ``f2 <- f2 + g2``; the Restorer's kernel path ``f2`` is 1x1 spatially (1x1 convs,
  broadcast in the product). A **DPCG** is ``nb`` DPCBs with a group residual on both paths.

Official oddities reproduced by default (``golden/README.md``, "DAN v1 and v2"):

* The Estimator never receives ``nf``: it always has width 64 (32 feature channels) and 5 blocks (v1: 288,596
  parameters), whatever ``DAN(nf=...)`` says.
* v1's Estimator output width is hard-coded to 10, not ``input_para``; v1 therefore only works with
  ``input_para=10`` (here a :class:`ConfigError` at construction instead of a shape error in ``forward``).
* v2's ``DPCB.forward`` mutates the list it receives, so in ``DPCG.forward`` the "group residual"
  ``y[0] = x[0] + y[0]`` adds the chain output *to itself*: every DPCG returns ``2 * chain(x)`` on both paths, not
  ``chain(x) + x``. ``DANv2(fix_group_residual=True)`` gives the intended ``chain(x) + x`` (a different function;
  official checkpoints were trained with the doubling).
* ``encoder`` (PCA matrix ``[None]``), ``init_kernel`` (centred Dirac) and ``init_ker_map`` are buffers, so they are
  in the state dict and in official checkpoints. No clamp on the output; global pooling (CA, Estimator) makes
  tiled inference differ from whole-image inference.

PCA matrix: the constructors take it as a tensor ``(k*k, input_para)`` (see :func:`load_pca_matrix`). With
``pca_matrix=None`` the ``encoder`` buffer is **zero-filled** (shape only): loading an official checkpoint (it
carries ``encoder`` and ``init_ker_map``) or calling :meth:`set_pca_matrix` fills it; ``pca_matrix_loaded`` tells.
The registry presets are always built with the placeholder (building reads no file and no environment variable);
before training from scratch, the entry's ``load_aux_buffers`` (:func:`load_setting1_pca`) fills it with the
published Setting-1 matrix, found and hash-checked by :mod:`sr_lib.hub`.

Training loss (``blind_model.py``, ``optimize_parameters``, pixel criterion L1 with weight 1 in the Setting-1
ymls; only the last unrolled iteration enters the loss): :func:`training_loss_v1`, :func:`training_loss_v2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..download import github_raw_url
from ..errors import ConfigError, DataError, WeightsError
from ..hub import WeightsEntry
from .official import OfficialPort, check_official_args, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "greatlog/DAN@4c4de00714e2a3ea541071da182a4e792128d128"


# ----------------------------------------------------------------------------------------------------------------
# PCA matrix and the kernel buffers shared by both versions
# ----------------------------------------------------------------------------------------------------------------


def load_pca_matrix(path: str | Path, kernel_size: int | None = None, code_length: int | None = None) -> Tensor:
    """Read an official PCA matrix (``pca_matrix/DANv*/*.pth``: one float32 tensor ``(k*k, L)``) safely.

    Also accepts the ``(1, k*k, L)`` ``encoder`` buffer layout. Checks ``k*k`` and ``L`` when given.
    """
    from ..weights import read_checkpoint

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"PCA matrix not found: {path}")
    matrix = read_checkpoint(path)
    if not isinstance(matrix, Tensor) or not matrix.is_floating_point():
        raise WeightsError(f"{path}: expected one float tensor, got {type(matrix).__name__}")
    if matrix.dim() == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if matrix.dim() != 2:
        raise WeightsError(f"{path}: PCA matrix must be 2-D (k*k, L), got shape {tuple(matrix.shape)}")
    if kernel_size is not None and matrix.shape[0] != kernel_size**2:
        raise WeightsError(
            f"{path}: PCA matrix has {matrix.shape[0]} rows, kernel size {kernel_size} needs {kernel_size**2}"
        )
    if code_length is not None and matrix.shape[1] != code_length:
        raise WeightsError(f"{path}: PCA matrix gives {matrix.shape[1]}-d codes, expected {code_length}")
    return matrix


class _KernelCodeMixin:
    """The buffers ``encoder`` (1, k*k, L), ``init_kernel`` (1, k, k) and ``init_ker_map`` (1, L) of both DANs."""

    ksize: int
    encoder: Tensor
    init_kernel: Tensor
    init_ker_map: Tensor

    def _register_kernel_buffers(self, pca_matrix: Tensor | None, kernel_size: int, input_para: int) -> None:
        shape = (kernel_size**2, input_para)
        if pca_matrix is None:
            matrix = torch.zeros(shape)  # placeholder: filled by an official checkpoint or set_pca_matrix()
        else:
            matrix = self._checked_matrix(pca_matrix, shape)
        module: nn.Module = self  # type: ignore[assignment]
        module.register_buffer("encoder", matrix[None])
        kernel = torch.zeros(1, kernel_size, kernel_size)
        kernel[:, kernel_size // 2, kernel_size // 2] = 1  # the Dirac kernel k_0
        module.register_buffer("init_kernel", kernel)
        module.register_buffer("init_ker_map", self._dirac_code())

    @staticmethod
    def _checked_matrix(pca_matrix: Tensor, shape: tuple[int, int]) -> Tensor:
        if not isinstance(pca_matrix, Tensor) or tuple(pca_matrix.shape) != shape:
            got = tuple(pca_matrix.shape) if isinstance(pca_matrix, Tensor) else type(pca_matrix).__name__
            raise ConfigError(f"PCA matrix must be a tensor of shape {shape}, got {got}")
        return pca_matrix.detach().to(torch.get_default_dtype()).clone()

    def _dirac_code(self) -> Tensor:
        return self.init_kernel.view(1, 1, self.ksize**2).matmul(self.encoder)[:, 0]

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """PCA code ``(B, L)`` of kernels ``(B, k*k)`` or ``(B, k, k)``: ``kernel @ encoder`` (no centring)."""
        return kernel.reshape(kernel.shape[0], 1, self.ksize**2).matmul(self.encoder)[:, 0]

    @torch.no_grad()
    def set_pca_matrix(self, pca_matrix: Tensor) -> None:
        """Fill ``encoder`` with ``pca_matrix`` (k*k, L) and recompute ``init_ker_map``."""
        shape = tuple(self.encoder.shape[1:])
        matrix = self._checked_matrix(pca_matrix, shape)  # type: ignore[arg-type]
        self.encoder.copy_(matrix[None])
        self.init_ker_map.copy_(self._dirac_code())

    @property
    def pca_matrix_loaded(self) -> bool:
        """False while ``encoder`` is still the zero placeholder."""
        return bool(self.encoder.abs().sum() > 0)


def _upscale(nf: int, scale: int, out_nc: int, allow_identity: bool) -> nn.Module:
    """Official ``Restorer.upscale``: x4 = 2 x [conv3(nf -> 4nf), PixelShuffle(2)]; otherwise conv3(nf -> nf*s^2),
    PixelShuffle(s); then conv3(nf -> out_nc). No activations. v2 adds ``scale == 1``: a single conv."""
    if scale == 1 and allow_identity:
        return nn.Conv2d(nf, out_nc, 3, 1, 1)
    if scale == 4:
        layers: list[nn.Module] = [
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2),
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2),
        ]
    else:
        layers = [nn.Conv2d(nf, nf * scale**2, 3, 1, 1), nn.PixelShuffle(scale)]
    return nn.Sequential(*layers, nn.Conv2d(nf, out_nc, 3, 1, 1))


def _check_common(nf: int, upscale: int, kernel_size: int, loop: int, input_para: int) -> None:
    if upscale < 1:
        raise ConfigError(f"DAN: upscale must be >= 1, got {upscale}")
    if kernel_size < 1 or loop < 1 or input_para < 1 or nf < 1:
        raise ConfigError("DAN: nf, kernel_size, loop and input_para must be positive")


# ----------------------------------------------------------------------------------------------------------------
# DANv1: conditional residual blocks
# ----------------------------------------------------------------------------------------------------------------


class ChannelAttention(nn.Module):
    """DAN's ``CALayer``: ``x * sigmoid(conv1(lrelu0.2(conv1(avgpool(x)))))``, reduction 16 (keys ``body.0/2``)."""

    def __init__(self, nf: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf // reduction, 1, 1, 0),
            nn.LeakyReLU(0.2),
            nn.Conv2d(nf // reduction, nf, 1, 1, 0),
            nn.Sigmoid(),
        )
        self.avg = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.body(self.avg(x))


class CRB_Layer(nn.Module):
    """Conditional residual block: ``f + CA(conv3(nf1+nf2 -> nf1)(lrelu(conv3(cat[f, c]))))``; ``c`` unchanged."""

    def __init__(self, nf1: int, nf2: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf1 + nf2, nf1 + nf2, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(nf1 + nf2, nf1, 3, 1, 1),
            ChannelAttention(nf1),
        )

    def forward(self, f: Tensor, cond: Tensor) -> Tensor:
        return f + self.body(torch.cat([f, cond], 1))


class EstimatorV1(nn.Module):
    """v1 Estimator (fixed width: nf 64 -> 32 channels, 5 CRBs): SR + LR -> 10-d kernel code (global average)."""

    def __init__(self, scale: int, in_nc: int = 3, nf: int = 64, num_blocks: int = 5) -> None:
        super().__init__()
        self.head_LR = nn.Conv2d(in_nc, nf // 2, 1, 1, 0)
        self.head_HR = nn.Conv2d(in_nc, nf // 2, 9, scale, 4)  # SR back to LR size
        self.body = nn.ModuleList([CRB_Layer(nf // 2, nf // 2) for _ in range(num_blocks)])
        self.out = nn.Conv2d(nf // 2, 10, 3, 1, 1)  # hard-coded 10 in the official code
        self.globalPooling = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        f, cond = self.head_LR(lr), self.head_HR(sr)
        for block in self.body:
            f = block(f, cond)
        f = self.globalPooling(self.out(f))
        return f.view(f.shape[:2])


class RestorerV1(nn.Module):
    """v1 Restorer: conv3, ``nb`` CRBs conditioned on the code broadcast to H x W, conv3 (``fusion``), upscale."""

    def __init__(self, nf: int, nb: int, scale: int, input_para: int, in_nc: int = 3, out_nc: int = 3) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.body = nn.ModuleList([CRB_Layer(nf, input_para) for _ in range(nb)])
        self.fusion = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upscale = _upscale(nf, scale, out_nc, allow_identity=False)

    def forward(self, lr: Tensor, ker_code: Tensor) -> Tensor:
        b, _, h, w = lr.shape
        code_map = ker_code.view(b, ker_code.shape[1], 1, 1).expand(b, ker_code.shape[1], h, w)
        f = self.head(lr)
        for block in self.body:
            f = block(f, code_map)
        return self.upscale(self.fusion(f))


class DANv1Output(NamedTuple):
    """Per-iteration outputs (official ``[srs, ker_maps]``); the final SR image is ``srs[-1]``."""

    srs: list[Tensor]
    ker_maps: list[Tensor]


class DANv1(_KernelCodeMixin, nn.Module):
    """DANv1 (official ``DANv1/.../dan_arch.py:DAN``). Defaults = Setting 1 (nf 64, nb 40, loop 4, k 21, code 10).

    ``pca_matrix``: ``(kernel_size**2, input_para)`` tensor, or None for a zero placeholder (see module doc).
    ``forward(lr)`` takes RGB in [0, 1] and returns :class:`DANv1Output` (lists of length ``loop``).
    """

    def __init__(
        self,
        pca_matrix: Tensor | None = None,
        *,
        nf: int = 64,
        nb: int = 40,
        upscale: int = 4,
        input_para: int = 10,
        kernel_size: int = 21,
        loop: int = 4,
    ) -> None:
        super().__init__()
        _check_common(nf, upscale, kernel_size, loop, input_para)
        if input_para != 10:
            raise ConfigError(
                f"DANv1: the official Estimator always outputs 10 codes, so input_para must be 10 (got {input_para})"
            )
        if nf < 16:
            raise ConfigError(f"DANv1: channel attention (reduction 16) needs nf >= 16, got {nf}")
        self.ksize, self.loop, self.scale = kernel_size, loop, upscale
        self.Restorer = RestorerV1(nf=nf, nb=nb, scale=upscale, input_para=input_para)
        self.Estimator = EstimatorV1(scale=upscale)
        self._register_kernel_buffers(pca_matrix, kernel_size, input_para)

    def forward(self, lr: Tensor) -> DANv1Output:
        srs: list[Tensor] = []
        ker_maps: list[Tensor] = []
        ker_map = self.init_ker_map.repeat(lr.shape[0], 1)
        for _ in range(self.loop):
            sr = self.Restorer(lr, ker_map.detach())
            ker_map = self.Estimator(sr.detach(), lr)
            srs.append(sr)
            ker_maps.append(ker_map)
        return DANv1Output(srs, ker_maps)


# ----------------------------------------------------------------------------------------------------------------
# DANv2: dual-path conditional blocks
# ----------------------------------------------------------------------------------------------------------------


class DPCB(nn.Module):
    """Dual-path conditional block: ``f1 + body1(f1) * body2(f2)``, ``f2 + body2(f2)`` (both from the inputs)."""

    def __init__(self, nf1: int, nf2: int, ksize1: int = 3, ksize2: int = 1) -> None:
        super().__init__()
        self.body1 = nn.Sequential(
            nn.Conv2d(nf1, nf1, ksize1, 1, ksize1 // 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(nf1, nf1, ksize1, 1, ksize1 // 2),
        )
        self.body2 = nn.Sequential(
            nn.Conv2d(nf2, nf1, ksize2, 1, ksize2 // 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(nf1, nf1, ksize2, 1, ksize2 // 2),
        )

    def forward(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        g1, g2 = self.body1(f1), self.body2(f2)
        return f1 + g1 * g2, f2 + g2


class DPCG(nn.Module):
    """``nb`` DPCBs and a group residual. Official (default): ``2 * chain(x)`` on both paths — the list-mutation
    bug described in the module doc; ``fix_group_residual=True``: ``chain(x) + x``."""

    def __init__(self, nf1: int, nf2: int, ksize1: int, ksize2: int, nb: int, fix_group_residual: bool = False) -> None:
        super().__init__()
        self.body = nn.ModuleList([DPCB(nf1, nf2, ksize1, ksize2) for _ in range(nb)])
        self.fix_group_residual = fix_group_residual

    def forward(self, f1: Tensor, f2: Tensor) -> tuple[Tensor, Tensor]:
        y1, y2 = f1, f2
        for block in self.body:
            y1, y2 = block(y1, y2)
        if self.fix_group_residual:
            return y1 + f1, y2 + f2
        return y1 + y1, y2 + y2  # official: `x` *is* `y` after the in-place list updates


class EstimatorV2(nn.Module):
    """v2 Estimator (fixed width 32/64, one DPCG of 5 blocks, 3x3 on both paths): SR + LR -> k*k kernel (softmax)."""

    def __init__(
        self,
        scale: int,
        kernel_size: int,
        in_nc: int = 3,
        nf: int = 64,
        num_blocks: int = 5,
        fix_group_residual: bool = False,
    ) -> None:
        super().__init__()
        self.head_LR = nn.Sequential(nn.Conv2d(in_nc, nf // 2, 5, 1, 2))
        self.head_HR = nn.Sequential(nn.Conv2d(in_nc, nf // 2, scale * 4 + 1, scale, scale * 2))  # SR to LR size
        self.body = DPCG(nf // 2, nf // 2, 3, 3, num_blocks, fix_group_residual)
        self.tail = nn.Sequential(
            nn.Conv2d(nf // 2, nf, 3, 1, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(nf, kernel_size**2, 1, 1, 0),
            nn.Softmax(1),
        )

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        f, _ = self.body(self.head_LR(lr), self.head_HR(sr))
        f = self.tail(f)
        return f.view(f.shape[:2])


class RestorerV2(nn.Module):
    """v2 Restorer: image path conv3 (``head1``), kernel path conv1 on the 1x1 code (``head2``), ``ng`` DPCGs of ``nb``
    DPCBs (3x3 / 1x1), conv3 (``fusion``), upscale."""

    def __init__(
        self, nf: int, nb: int, ng: int, scale: int, input_para: int, in_nc: int = 3, fix_group_residual: bool = False
    ) -> None:
        super().__init__()
        self.head1 = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.head2 = nn.Conv2d(input_para, nf, 1, 1, 0)
        self.body = nn.ModuleList([DPCG(nf, nf, 3, 1, nb, fix_group_residual) for _ in range(ng)])
        self.fusion = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upscale = _upscale(nf, scale, in_nc, allow_identity=True)

    def forward(self, lr: Tensor, ker_code: Tensor) -> Tensor:
        f1 = self.head1(lr)
        f2 = self.head2(ker_code.view(*ker_code.shape, 1, 1))  # stays 1x1, broadcast in the DPCB product
        for group in self.body:
            f1, f2 = group(f1, f2)
        return self.upscale(self.fusion(f1))


class DANv2Output(NamedTuple):
    """Per-iteration outputs (official ``[srs, ker_maps, kernels]``); kernels are flattened ``(B, k*k)``."""

    srs: list[Tensor]
    ker_maps: list[Tensor]
    kernels: list[Tensor]


class DANv2(_KernelCodeMixin, nn.Module):
    """DANv2 (official ``DANv2/.../dan_arch.py:DAN``). Defaults = Setting 1 (nf 64, nb 10, ng 5, loop 4, k 21, code 10).

    ``fix_group_residual``: False (official, each DPCG doubles its output) / True (``chain(x) + x``).
    ``forward(lr)`` returns :class:`DANv2Output`.
    """

    def __init__(
        self,
        pca_matrix: Tensor | None = None,
        *,
        nf: int = 64,
        nb: int = 10,
        ng: int = 5,
        in_nc: int = 3,
        upscale: int = 4,
        input_para: int = 10,
        kernel_size: int = 21,
        loop: int = 4,
        fix_group_residual: bool = False,
    ) -> None:
        super().__init__()
        _check_common(nf, upscale, kernel_size, loop, input_para)
        self.ksize, self.loop, self.scale = kernel_size, loop, upscale
        self.Restorer = RestorerV2(nf=nf, nb=nb, ng=ng, scale=upscale, input_para=input_para, in_nc=in_nc,
                                   fix_group_residual=fix_group_residual)
        self.Estimator = EstimatorV2(scale=upscale, kernel_size=kernel_size, in_nc=in_nc,
                                     fix_group_residual=fix_group_residual)
        self._register_kernel_buffers(pca_matrix, kernel_size, input_para)

    def forward(self, lr: Tensor) -> DANv2Output:
        srs: list[Tensor] = []
        ker_maps: list[Tensor] = []
        kernels: list[Tensor] = []
        b = lr.shape[0]
        ker_map = self.init_ker_map.repeat(b, 1)
        for _ in range(self.loop):
            sr = self.Restorer(lr, ker_map.detach())
            kernel = self.Estimator(sr.detach(), lr)
            ker_map = kernel.view(b, 1, self.ksize**2).matmul(self.encoder)[:, 0]
            srs.append(sr)
            ker_maps.append(ker_map)
            kernels.append(kernel)
        return DANv2Output(srs, ker_maps, kernels)


# ----------------------------------------------------------------------------------------------------------------
# Official ports (goldens: dan_v1/, dan_v2/)
# ----------------------------------------------------------------------------------------------------------------

_SOURCE = f"{OFFICIAL_CODE}:codes/config/{{}}/models/modules/dan_arch.py:DAN"


def _official_args(args: Mapping[str, Any], allowed: set[str]) -> dict[str, Any]:
    """Official constructor args -> ours: drop ``pca_matrix_path`` (the state dict carries ``encoder``)."""
    return check_official_args({k: v for k, v in args.items() if k != "pca_matrix_path"}, allowed, "DAN")


def _build_v1_official(args: Mapping[str, Any]) -> DANv1:
    return DANv1(None, **_official_args(args, {"nf", "nb", "upscale", "input_para", "kernel_size", "loop"}))


def _build_v2_official(args: Mapping[str, Any]) -> DANv2:
    allowed = {"nf", "nb", "ng", "in_nc", "upscale", "input_para", "kernel_size", "loop"}
    return DANv2(None, **_official_args(args, allowed))


def _run_v1(model: nn.Module, x: Tensor) -> dict[str, Any]:
    srs, ker_maps = model(x)
    return {"output": srs[-1], "ker_code": ker_maps[-1], "srs": srs, "ker_maps": ker_maps}


def _run_v2(model: nn.Module, x: Tensor) -> dict[str, Any]:
    srs, ker_maps, kernels = model(x)
    return {
        "output": srs[-1], "ker_code": ker_maps[-1], "kernel": kernels[-1],
        "srs": srs, "ker_maps": ker_maps, "kernels": kernels,
    }


register_port(OfficialPort(golden_dir="dan_v1", source=_SOURCE.format("DANv1"), build=_build_v1_official, run=_run_v1))
register_port(OfficialPort(golden_dir="dan_v2", source=_SOURCE.format("DANv2"), build=_build_v2_official, run=_run_v2))


# ----------------------------------------------------------------------------------------------------------------
# Training: the Setting-1 PCA matrix and the losses of blind_model.py
# ----------------------------------------------------------------------------------------------------------------


def load_setting1_pca(model: nn.Module, weights_dir: str | Path | None = None, download: bool = False) -> None:
    """Fill ``model``'s ``encoder`` with the published Setting-1 PCA matrix of its version (``pca_matrix.pth``,
    441 x 10), found and hash-checked by :func:`sr_lib.hub.resolve_aux` (downloaded only if ``download``).

    The registry's ``load_aux_buffers`` of both presets: call it before training from scratch (official checkpoints
    carry the matrix themselves).
    """
    from ..hub import resolve_aux

    net = _unwrap(model)
    if not isinstance(net, (DANv1, DANv2)):
        raise ConfigError(f"load_setting1_pca: expected a DAN model, got {type(net).__name__}")
    name = "dan-v1" if isinstance(net, DANv1) else "dan-v2"
    path = resolve_aux("pca_matrix", name, weights_dir, download)
    net.set_pca_matrix(load_pca_matrix(path, kernel_size=net.ksize, code_length=int(net.encoder.shape[-1])))


def _unwrap(model: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper (attributes and buffers live there)."""
    inner = getattr(model, "module", model)
    return inner if isinstance(inner, nn.Module) else model


def _true_kernels(model: nn.Module, extras: Mapping[str, Tensor], target: Tensor) -> tuple[DANv1 | DANv2, Tensor]:
    net = _unwrap(model)
    if not isinstance(net, (DANv1, DANv2)):
        raise ConfigError(f"DAN training loss: expected a DAN model, got {type(net).__name__}")
    if "kernel" not in extras:
        raise DataError("DAN training needs the true blur kernels (batch extra 'kernel', (B, k, k))")
    kernel = extras["kernel"]
    k = net.ksize
    if kernel.dim() != 3 or tuple(kernel.shape) != (target.shape[0], k, k):
        raise DataError(f"DAN training: kernels must be ({target.shape[0]}, {k}, {k}), got {tuple(kernel.shape)}")
    if not net.pca_matrix_loaded:
        raise ConfigError("DAN's PCA matrix is still the zero placeholder: fill it first (the registry entry's "
                          "load_aux_buffers, sr_lib.models.dan.load_setting1_pca)")
    return net, kernel.float()


def training_loss_v1(model: nn.Module, x: Tensor, target: Tensor, extras: Mapping[str, Tensor]) -> Tensor:
    """DANv1's loss: ``L1(SR_last, HR) + L1(code_last, PCA code of the true kernel)`` (official
    ``DANv1/models/blind_model.py``: the loop over iterations only logs; the last iteration's two terms are summed;
    the true code is ``kernel @ pca_matrix``, the encoder's). ``extras["kernel"]``: the true kernels ``(B, k, k)``."""
    net, kernel = _true_kernels(model, extras, target)
    out = model(x)
    code = net.encode_kernel(kernel)
    return F.l1_loss(out.srs[-1].float(), target.float()) + F.l1_loss(out.ker_maps[-1].float(), code)


def training_loss_v2(model: nn.Module, x: Tensor, target: Tensor, extras: Mapping[str, Tensor]) -> Tensor:
    """DANv2's loss: ``L1(SR_last, HR) + L1(kernel_last, true kernel)`` on flattened ``k*k`` kernels (official
    ``DANv2/models/blind_model.py``, last iteration only). ``extras["kernel"]``: the true kernels ``(B, k, k)``."""
    _, kernel = _true_kernels(model, extras, target)
    out = model(x)
    return (F.l1_loss(out.srs[-1].float(), target.float())
            + F.l1_loss(out.kernels[-1].float(), kernel.reshape(kernel.shape[0], -1)))


# ----------------------------------------------------------------------------------------------------------------
# Registry presets
# ----------------------------------------------------------------------------------------------------------------


def _predict_final_sr(model: nn.Module, x: Tensor) -> Tensor:
    return model(x).srs[-1]


def _weights(version: str) -> tuple[WeightsEntry, ...]:
    """The Setting-1 checkpoints (manual download) and the PCA matrices of ``pca_matrix/DAN<version>/``."""
    name = f"dan-{version}"
    checkpoints = tuple(
        WeightsEntry(model=name, scale=s, path=f"dan/DAN{version}/dan{version}_x{s}_setting1.pth", format="state-dict",
                     source=f"{OFFICIAL_CODE}:README.md (Pretrained Weights); file name from "
                            f"codes/config/DAN{version}/options/setting1/test/test_setting1_x{s}.yml",
                     homepage="https://drive.google.com/drive/folders/1aOaxXFfMAM6GvvPz56lzUwVmg7BMM_mR?usp=sharing",
                     variant="setting 1",
                     notes="manual download from Google Drive or BaiduYun "
                           "(https://pan.baidu.com/s/15843FMaiGoREB-8sdmJc4g, password cbjv); the README text names "
                           "DANv1 and IKC weights, its folder tree a DANv2 folder too; no published hash")
        for s in (2, 3, 4)
    )
    hashes = {  # sha256 of the files of pca_matrix/DANv1 and pca_matrix/DANv2
        "v1": {"pca_matrix": "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce",
               "pca_aniso_matrix_x2": "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93",
               "pca_aniso_matrix_x4": "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce"},
        "v2": {"pca_matrix": "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce",
               "pca_aniso_matrix_x2": "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93",
               "pca_aniso_matrix_x4": "f3645e84a601e9ffed2f301e8d37a3676c8b03e89c79bd3e445f4fec5ebd0f62"},
    }[version]
    aux = tuple(
        WeightsEntry(model=name, scale=None, path=f"dan_aux/pca_matrix/DAN{version}/{file}.pth", format="legacy-pickle",
                     source=f"{OFFICIAL_CODE}:pca_matrix/DAN{version}/{file}.pth",
                     url=github_raw_url(OFFICIAL_CODE, f"pca_matrix/DAN{version}/{file}.pth"), sha256=sha256,
                     kind="aux", variant=file,
                     notes="PCA kernel-code matrix (one float32 tensor; read with sr_lib.models.dan.load_pca_matrix)")
        for file, sha256 in hashes.items()
    )
    return checkpoints + aux


_PAPER_V1 = "Luo et al., Unfolding the Alternating Optimization for Blind Super Resolution, NeurIPS 2020"
_PAPER_V2 = "Luo et al., End-to-end Alternating Optimization for Blind Super Resolution, arXiv 2105.06878"
_SETTING1 = dict(input_para=10, kernel_size=21, loop=4)  # code length, kernel size, unfolded iterations
_RGB = InputSpec(color="rgb", pre_upsample=False, pixel_max=1.0)
# The Estimator is trained by the kernel loss only: the SR image (what `predict` returns) is computed from a
# detached kernel code, so no gradient of it reaches the Estimator. Not unused parameters, but the same effect.
_ESTIMATOR_NO_SR_GRAD = ("Estimator.*",)

register_model(
    ModelEntry(
        name="dan-v1",
        family="dan",
        paper=_PAPER_V1,
        build=lambda scale: DANv1(None, nf=64, nb=40, upscale=scale, **_SETTING1),
        build_tiny=lambda scale: DANv1(None, nf=16, nb=2, upscale=scale, **_SETTING1),
        make=lambda scale, **options: DANv1(None, upscale=scale, **{"nf": 64, "nb": 40, **_SETTING1, **options}),
        training_loss=training_loss_v1,
        scales=(2, 3, 4),
        input=_RGB,
        predict=_predict_final_sr,
        tile_safe=False,
        params_without_grad=_ESTIMATOR_NO_SR_GRAD,
        description="DANv1 Setting 1 (isotropic Gaussian blur, Gaussian8): nf 64, 40 CRBs, 4 iterations, k 21",
        paper_name="DAN",
        paper_variant="DANv1",
        official_code=OFFICIAL_CODE,
        weights=_weights("v1"),
        load_aux_buffers=load_setting1_pca,
    )
)
register_model(
    ModelEntry(
        name="dan-v2",
        family="dan",
        paper=_PAPER_V2,
        build=lambda scale: DANv2(None, nf=64, nb=10, ng=5, upscale=scale, **_SETTING1),
        build_tiny=lambda scale: DANv2(None, nf=16, nb=2, ng=2, upscale=scale, **_SETTING1),
        make=lambda scale, **options: DANv2(None, upscale=scale,
                                            **{"nf": 64, "nb": 10, "ng": 5, **_SETTING1, **options}),
        training_loss=training_loss_v2,
        scales=(2, 3, 4),
        input=_RGB,
        predict=_predict_final_sr,
        tile_safe=False,
        params_without_grad=_ESTIMATOR_NO_SR_GRAD,
        description="DANv2 Setting 1 (isotropic Gaussian blur, Gaussian8): nf 64, 5 DPCGs x 10 DPCBs, 4 iterations",
        paper_name="DAN",
        paper_variant="DANv2",
        official_code=OFFICIAL_CODE,
        weights=_weights("v2"),
        load_aux_buffers=load_setting1_pca,
    )
)
