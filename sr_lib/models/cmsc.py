"""CMSC — Hu, Gao, Li, Huang, Wang: "Single Image Super-Resolution via Cascaded Multi-Scale Cross Network"
(arXiv:1802.08808, 2018).

**A reconstruction, not a port.** There is no official code, and neither the paper body nor its result tables were
readable to us (see ``papers/cmsc.md``). What the sources state, and what this file builds:

1. a feature-extraction network, cascaded sub-networks, and a reconstruction network;
2. each sub-network stacks several *multi-scale cross* (MSC) modules: two branches with *different kernel sizes*
   combined in a merge-and-run-like way (Zhao et al., arXiv:1611.07718) — :class:`MSCModule`;
3. *residual-features learning*: an identity skip around each sub-network, so every stage estimates the residual
   between the HR features and the features it receives — :class:`CascadeStage`;
4. *cascaded supervision*: every stage's features are reconstructed into an image and supervised —
   :func:`cascaded_supervision_loss`;
5. the final image is a *weighted average* of the intermediate predictions — :attr:`CMSC.assembly_weights`.

Every other choice is **the book's**, not the paper's, and is a typed field of :class:`CMSCConfig` so that it can be
varied: input convention (default: the bicubic-upscaled Y channel in [0, 1], as in the VDSR / DRCN / MemNet line of
work that the journal extension compares with), widths, depths, kernel sizes, the exact merge formula, activation,
whether the reconstruction is shared between stages, a global image skip, and whether the assembly weights are
learned. The assembly weights are always normalised by a softmax, so they are positive and sum to one (initialised
uniform; convolutions keep PyTorch's default initialisation). The default configuration has 2,608,900 parameters.
No paper numbers exist for this model; nothing here should be read as the authors' exact configuration.

The network is fully convolutional with local kernels; the assembly weights are input-independent scalars, so
tiled inference with enough overlap equals whole-image inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError
from .blocks import Upsampler
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor


@dataclass(frozen=True)
class CMSCConfig:
    """Every design choice of the reconstruction (none of the values below is stated by the sources).

    n_colors: image channels (1: the Y channel).
    input_mode: ``"bicubic"`` — the input is the LR image already bicubic-upscaled to HR size (pre-upsampling, like
        VDSR); ``"lr"`` — the input is the LR image and each stage's reconstruction ends in a sub-pixel upsampler.
    scale: upscaling factor; used only when ``input_mode == "lr"`` (a ``"bicubic"`` network is scale-agnostic).
    n_feats: feature width everywhere.
    n_extract: number of conv3x3 + activation layers of the feature-extraction network.
    n_stages: number of cascaded sub-networks (= number of intermediate predictions).
    n_modules_per_stage: MSC modules stacked in each sub-network.
    kernel_sizes: kernel sizes of the two MSC branches (the sources: "two branches of different kernel sizes").
    convs_per_branch: convolutions per branch inside one MSC module (activation between them, none after the last).
    cross: ``True`` — merge-and-run: the *average* of the two branch inputs is added to both branch outputs, so
        information crosses between the scales after every module; ``False`` — ablation: each branch keeps its own
        identity skip and the two streams meet only at the end of the stage.
    stage_residual: what each sub-network's identity skip adds its estimated residual features to:
        ``"stage_input"`` (the features the stage received; a plain skip around the sub-network) or
        ``"extracted"`` (always the LR features of the extraction network).
    share_reconstruction: one reconstruction network applied to every stage (``True``) or one per stage.
    global_residual: add the (bicubic-upscaled) input image to every stage's reconstruction (image residual
        learning, as in VDSR).
    act: activation, ``"relu"`` or ``"prelu"`` (one learnable slope per layer).
    learn_assembly_weights: the assembly weights are ``softmax(logits)`` with learnable logits (``True``) or fixed.
    assembly_init: initial (or fixed) assembly weights, one positive number per stage, normalised to sum to one;
        ``None`` means uniform ``1 / n_stages``.
    """

    n_colors: int = 1
    input_mode: Literal["bicubic", "lr"] = "bicubic"
    scale: int = 1
    n_feats: int = 64
    n_extract: int = 2
    n_stages: int = 3
    n_modules_per_stage: int = 3
    kernel_sizes: tuple[int, int] = (3, 5)
    convs_per_branch: int = 2
    cross: bool = True
    stage_residual: Literal["stage_input", "extracted"] = "stage_input"
    share_reconstruction: bool = True
    global_residual: bool = True
    act: Literal["relu", "prelu"] = "relu"
    learn_assembly_weights: bool = True
    assembly_init: tuple[float, ...] | None = None

    def validate(self) -> None:
        positive = ("n_colors", "n_feats", "n_extract", "n_stages", "n_modules_per_stage", "convs_per_branch")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"CMSCConfig.{name} must be a positive integer, got {value!r}")
        if self.input_mode not in ("bicubic", "lr"):
            raise ConfigError(f"CMSCConfig.input_mode must be 'bicubic' or 'lr', got {self.input_mode!r}")
        if self.input_mode == "lr" and (self.scale < 2 or (self.scale & (self.scale - 1) and self.scale != 3)):
            raise ConfigError(f"CMSCConfig.scale must be 2^n or 3 with input_mode='lr', got {self.scale!r}")
        if len(self.kernel_sizes) != 2 or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ConfigError(f"CMSCConfig.kernel_sizes must be two odd sizes, got {self.kernel_sizes!r}")
        if self.stage_residual not in ("stage_input", "extracted"):
            raise ConfigError(
                f"CMSCConfig.stage_residual must be 'stage_input' or 'extracted', got {self.stage_residual!r}"
            )
        if self.act not in ("relu", "prelu"):
            raise ConfigError(f"CMSCConfig.act must be 'relu' or 'prelu', got {self.act!r}")
        if self.assembly_init is not None and (
            len(self.assembly_init) != self.n_stages or any(not w > 0 for w in self.assembly_init)
        ):
            raise ConfigError(
                f"CMSCConfig.assembly_init needs {self.n_stages} positive weights, got {self.assembly_init!r}"
            )


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _act(kind: str) -> nn.Module:
    return nn.PReLU() if kind == "prelu" else nn.ReLU(inplace=True)


class MSCModule(nn.Module):
    """Multi-scale cross module: two branches with different kernel sizes, merged and run.

    With branch inputs ``a`` (small kernel) and ``b`` (large kernel) and ``F_k = conv_k -> act -> ... -> conv_k``::

        m  = (a + b) / 2                   # merge   (cross=True; Zhao et al.'s merge-and-run mapping)
        a' = F_small(a) + m                # run
        b' = F_large(b) + m

    ``cross=False`` replaces ``m`` by each branch's own input (two independent residual streams).
    """

    def __init__(
        self, n_feats: int, kernel_sizes: tuple[int, int], convs_per_branch: int, cross: bool, act: str
    ) -> None:
        super().__init__()
        self.cross = cross

        def branch(k: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(convs_per_branch):
                layers.append(_conv(n_feats, n_feats, k))
                if i < convs_per_branch - 1:
                    layers.append(_act(act))
            return nn.Sequential(*layers)

        self.branch_small = branch(kernel_sizes[0])
        self.branch_large = branch(kernel_sizes[1])

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        if self.cross:
            m = (a + b) / 2
            return self.branch_small(a) + m, self.branch_large(b) + m
        return self.branch_small(a) + a, self.branch_large(b) + b


class CascadeStage(nn.Module):
    """One cascaded sub-network: both streams start from the stage input, run through the MSC modules, and a 1x1
    convolution fuses them into the *residual* features; the caller adds them to its skip (residual-features
    learning)."""

    def __init__(self, config: CMSCConfig) -> None:
        super().__init__()
        c = config.n_feats
        self.msc = nn.ModuleList(
            MSCModule(c, config.kernel_sizes, config.convs_per_branch, config.cross, config.act)
            for _ in range(config.n_modules_per_stage)
        )
        self.fuse = nn.Conv2d(2 * c, c, 1)

    def forward(self, h: Tensor) -> Tensor:
        a = b = h
        for module in self.msc:
            a, b = module(a, b)
        return self.fuse(torch.cat([a, b], 1))


@dataclass
class CMSCOutput:
    """What :meth:`CMSC.forward` returns: every stage's image, the assembly weights, and the assembled image.

    ``output == sum_s weights[s] * stages[s]``; ``weights`` is positive and sums to one.
    """

    stages: list[Tensor]
    weights: Tensor
    output: Tensor


class CMSC(nn.Module):
    """Cascaded multi-scale cross network (reconstruction; see the module docstring).

    ``head`` (feature extraction) -> ``body[s]`` (sub-networks) with ``h_s = skip_s + body[s](h_{s-1})`` ->
    ``tail`` (reconstruction of each ``h_s``, plus the input image when ``global_residual``) -> stage images
    ``y_s`` -> assembled ``y = sum_s softmax(assembly_logits)_s * y_s``.
    """

    def __init__(self, config: CMSCConfig = CMSCConfig()) -> None:
        super().__init__()
        config.validate()
        self.config = config
        c, n = config.n_feats, config.n_colors

        head: list[nn.Module] = []
        for i in range(config.n_extract):
            head += [_conv(n if i == 0 else c, c, 3), _act(config.act)]
        self.head = nn.Sequential(*head)

        self.body = nn.ModuleList(CascadeStage(config) for _ in range(config.n_stages))

        def reconstruction() -> nn.Sequential:
            layers: list[nn.Module] = [_conv(c, c, 3), _act(config.act)]
            if config.input_mode == "lr":
                layers.append(Upsampler(config.scale, c))
            layers.append(_conv(c, n, 3))
            return nn.Sequential(*layers)

        n_reconstructions = 1 if config.share_reconstruction else config.n_stages
        self.tail = nn.ModuleList(reconstruction() for _ in range(n_reconstructions))

        init = config.assembly_init or (1.0,) * config.n_stages
        logits = torch.tensor([math.log(w / sum(init)) for w in init])
        if config.learn_assembly_weights:
            self.assembly_logits = nn.Parameter(logits)
        else:
            self.register_buffer("assembly_logits", logits)

    @property
    def assembly_weights(self) -> Tensor:
        """The normalised assembly weights (softmax of the logits): positive, sum to one."""
        return torch.softmax(self.assembly_logits, 0)

    def forward(self, x: Tensor) -> CMSCOutput:
        if x.dim() != 4 or x.shape[1] != self.config.n_colors:
            raise DataError(f"CMSC expects a (N, {self.config.n_colors}, H, W) tensor, got {tuple(x.shape)}")
        if self.config.input_mode == "lr":
            image_skip = F.interpolate(x, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        else:
            image_skip = x

        h0 = self.head(x)
        h, stages = h0, []
        for s, stage in enumerate(self.body):
            skip = h if self.config.stage_residual == "stage_input" else h0
            h = skip + stage(h)  # residual-features learning
            y = self.tail[0 if self.config.share_reconstruction else s](h)
            stages.append(y + image_skip if self.config.global_residual else y)

        weights = self.assembly_weights.to(x.dtype)
        output = torch.stack(stages, 0).mul(weights.view(-1, 1, 1, 1, 1)).sum(0)
        return CMSCOutput(stages=stages, weights=weights, output=output)


def cascaded_supervision_loss(
    out: CMSCOutput,
    target: Tensor,
    *,
    stage_weights: float | Sequence[float] = 1.0,
    assembled_weight: float = 1.0,
    criterion: Literal["mse", "l1"] = "mse",
) -> Tensor:
    """Cascaded supervision: ``sum_s stage_weights[s] * l(y_s, target) + assembled_weight * l(y, target)``.

    The sources say every intermediate prediction is supervised and the assembled one is the output; the loss
    weights and the criterion are not stated. Defaults (the book's choice): every stage and the assembly weighted 1,
    mean squared error. A scalar ``stage_weights`` applies to every stage. The learnable assembly weights receive a
    gradient only through the assembled term. (DRCN's recursive supervision, ``alpha / S * sum_s l_s +
    (1 - alpha) * l_final``, is ``stage_weights=alpha / S, assembled_weight=1 - alpha``.)
    """
    if criterion not in ("mse", "l1"):
        raise ConfigError(f"criterion must be 'mse' or 'l1', got {criterion!r}")
    n = len(out.stages)
    if isinstance(stage_weights, (int, float)):
        weights = [float(stage_weights)] * n
    else:
        weights = [float(w) for w in stage_weights]
    if len(weights) != n:
        raise ConfigError(f"stage_weights has {len(weights)} entries for {n} stages")
    if out.output.shape != target.shape:
        raise DataError(f"target shape {tuple(target.shape)} != prediction shape {tuple(out.output.shape)}")
    loss_fn = F.mse_loss if criterion == "mse" else F.l1_loss
    total = assembled_weight * loss_fn(out.output, target)
    for w, y in zip(weights, out.stages):
        total = total + w * loss_fn(y, target)
    return total


def _predict(model: nn.Module, x: Tensor) -> Tensor:
    return model(x).output


register_model(
    ModelEntry(
        name="cmsc",
        family="cmsc",
        paper="Hu et al., Single Image Super-Resolution via Cascaded Multi-Scale Cross Network, arXiv:1802.08808",
        build=lambda scale: CMSC(CMSCConfig()),
        build_tiny=lambda scale: CMSC(CMSCConfig(n_feats=8, n_stages=2, n_modules_per_stage=2)),
        make=lambda scale, **options: CMSC(CMSCConfig(**options)),
        training_loss=lambda model, x, target, extras: cascaded_supervision_loss(model(x), target),
        scales=(2, 3, 4),
        input=InputSpec(color="y", pre_upsample=True, pixel_max=1.0),
        predict=_predict,
        tile_safe=True,
        description="CMSC reconstructed from the abstract and notes (no official code); bicubic-upscaled Y input",
        paper_name=None,  # no result table was readable (module docstring)
        official_code=None,
    )
)
