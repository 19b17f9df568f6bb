"""SRResNet and the SRGAN discriminator — Ledig et al.: "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network" (CVPR 2017).

Generator (paper Fig. 4, top): a 9x9 convolution with 64 maps, ``B = 16`` residual blocks
``y + BN(conv3x3(act(BN(conv3x3(y)))))``, a 3x3 convolution + BN added to the output of the first layer (long skip),
two sub-pixel stages ``[conv3x3(64 -> 256), PixelShuffle(2), act]`` and a 9x9 convolution to RGB. The paper and
the official code are x4 only; ``scale=2`` (one sub-pixel stage, module name kept) is the book's x2 variant for the
equal-compute league (chapter 8).
Trained with the MSE it is *SRResNet*; with the perceptual loss of Eq. 3 (VGG content loss Eq. 5 plus
``1e-3`` x the adversarial loss Eq. 6, see :mod:`sr_lib.losses`) it is the generator of *SRGAN*.

There is no official code by the authors. The port follows twtygqyy/pytorch-SRResNet, which differs from the
paper in two documented ways, reproduced by default:

* the activation is ``LeakyReLU(0.2)``, not the paper's PReLU (``act="prelu"`` gives the paper's, no golden);
* at the repository head (d715729c, class ``_NetG``) the normalisation is ``InstanceNorm2d(affine=True)``
  (keys ``in1``/``in2``; the mid norm keeps the name ``bn_mid``): per-image statistics, so the output depends on
  the whole image and tiled inference differs. The BatchNorm version is commit 11cf32c (class ``Net``, keys
  ``bn1``/``bn2``/``bn_mid``). ``norm="batch" | "instance"`` selects one.

Every convolution has ``bias=False``; input and output are RGB in [0, 1] (no mean shift, no tanh, no clamp).
Official module names are kept: ``conv_input``, ``relu``, ``residual.{i}.{conv1,bn1|in1,relu,conv2,bn2|in2}``,
``conv_mid``, ``bn_mid``, ``upscale4x.{0,3}``, ``conv_output``.

Discriminator (paper Fig. 4, bottom; twtygqyy ``_NetD``): eight ``conv -> BN -> LeakyReLU(0.2)`` layers (no BN
after the first) with widths 64, 64, 128, 128, 256, 256, 512, 512, stride 2 on every second one, then
``Linear(512*6*6 -> 1024)``, LeakyReLU(0.2), ``Linear(1024 -> 1)`` and a sigmoid: one probability per image, for
96x96 inputs. The official strided convolutions are 4x4 (the paper's are 3x3: ``strided_kernel=3``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..hub import WeightsEntry
from .official import OfficialPort, check_official_args, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor
Norm = Literal["batch", "instance"]
Act = Literal["lrelu", "prelu"]

SCALE = 4  # two x2 sub-pixel stages, as in the paper and the official code
SCALES = (2, 4)  # x2: one stage (the league's variant; no official weights)


def _act(act: Act) -> nn.Module:
    if act == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)  # official
    if act == "prelu":
        return nn.PReLU()  # paper; one shared slope per layer (the paper does not say per channel)
    raise ConfigError(f"unknown activation '{act}'; use 'lrelu' or 'prelu'")


def _norm(norm: Norm, nf: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(nf)
    if norm == "instance":
        return nn.InstanceNorm2d(nf, affine=True)  # no running statistics: per-image normalisation in eval too
    raise ConfigError(f"unknown normalisation '{norm}'; use 'batch' or 'instance'")


class _Residual_Block(nn.Module):  # noqa: N801  (official name)
    """``y + N2(conv2(act(N1(conv1(y)))))``; norms ``bn1``/``bn2`` (BatchNorm) or ``in1``/``in2`` (InstanceNorm)."""

    def __init__(self, nf: int = 64, norm: Norm = "batch", act: Act = "lrelu") -> None:
        super().__init__()
        prefix = "bn" if norm == "batch" else "in"
        self.norm_names = (f"{prefix}1", f"{prefix}2")
        self.conv1 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        setattr(self, self.norm_names[0], _norm(norm, nf))
        self.relu = _act(act)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        setattr(self, self.norm_names[1], _norm(norm, nf))

    def forward(self, x: Tensor) -> Tensor:
        n1, n2 = (getattr(self, name) for name in self.norm_names)
        return x + n2(self.conv2(self.relu(n1(self.conv1(x)))))


class SRResNet(nn.Module):
    """The SRResNet / SRGAN generator.

    nf: number of feature maps (paper: 64). nb: number of residual blocks (paper: B = 16).
    norm: ``"batch"`` (paper; twtygqyy@11cf32c) or ``"instance"`` (twtygqyy HEAD ``_NetG``).
    act: ``"lrelu"`` (official LeakyReLU(0.2)) or ``"prelu"`` (paper).
    scale: 4 (paper: two sub-pixel stages) or 2 (one stage; the book's league variant, see :data:`SCALES`).
    """

    def __init__(self, nf: int = 64, nb: int = 16, norm: Norm = "batch", act: Act = "lrelu", scale: int = SCALE) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"SRResNet upscales x{' or x'.join(map(str, SCALES))}, got x{scale}")
        self.conv_input = nn.Conv2d(3, nf, 9, padding=4, bias=False)
        self.relu = _act(act)
        self.residual = nn.Sequential(*[_Residual_Block(nf, norm, act) for _ in range(nb)])
        self.conv_mid = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        self.bn_mid = _norm(norm, nf)  # named bn_mid in both official versions
        stages = [[nn.Conv2d(nf, 4 * nf, 3, padding=1, bias=False), nn.PixelShuffle(2), _act(act)]
                  for _ in range(scale.bit_length() - 1)]  # log2(scale) stages of x2
        self.upscale4x = nn.Sequential(*[m for stage in stages for m in stage])  # official name, also at x2
        self.conv_output = nn.Conv2d(nf, 3, 9, padding=4, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.relu(self.conv_input(x))
        out = self.bn_mid(self.conv_mid(self.residual(skip))) + skip
        return self.conv_output(self.upscale4x(out))


class SRGANDiscriminator(nn.Module):
    """The SRGAN discriminator (twtygqyy ``_NetD``): ``forward`` returns ``D(x)``, one probability per image [B].

    nf: width of the first layer (64); the widths are nf, nf, 2nf, 2nf, 4nf, 4nf, 8nf, 8nf.
    fc: width of the first dense layer (1024).
    input_size: side of the square input (96 in the paper); the convolutions halve it four times.
    strided_kernel: kernel of the stride-2 convolutions, 4 (official) or 3 (paper).
    output: "probability" (``D(x)``, as ``_NetD``) or "logits" (the pre-sigmoid score: what the training losses of
        :mod:`sr_lib.losses` take; training calls the module itself so that DDP sees the forward pass).
    """

    def __init__(self, nf: int = 64, fc: int = 1024, input_size: int = 96, strided_kernel: Literal[3, 4] = 4,
                 output: Literal["probability", "logits"] = "probability") -> None:
        super().__init__()
        if output not in ("probability", "logits"):
            raise ConfigError(f"SRGAN discriminator output must be 'probability' or 'logits', got {output!r}")
        self.output = output
        if input_size % 16:
            raise ConfigError(f"SRGAN discriminator input size must be a multiple of 16, got {input_size}")
        if strided_kernel not in (3, 4):
            raise ConfigError(f"strided_kernel must be 3 or 4, got {strided_kernel}")
        self.input_size = input_size
        widths = [nf, nf, 2 * nf, 2 * nf, 4 * nf, 4 * nf, 8 * nf, 8 * nf]
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(widths):
            stride = 2 if i % 2 else 1
            k = strided_kernel if stride == 2 else 3
            layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.fc1 = nn.Linear(8 * nf * side * side, fc)
        self.fc2 = nn.Linear(fc, 1)

    def logits(self, x: Tensor) -> Tensor:
        """The pre-sigmoid score ``fc2(...)`` per image, shape [B] (use it with the BCE-with-logits losses)."""
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise ConfigError(
                f"SRGAN discriminator expects {self.input_size}x{self.input_size} inputs, got {tuple(x.shape[-2:])}"
            )
        out = self.features(x).flatten(1)
        return self.fc2(self.lrelu(self.fc1(out))).view(-1)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.logits(x)
        return logits if self.output == "logits" else torch.sigmoid(logits)


# --------------------------------------------------------------------------------------------------------------
# Registry (generators only: the discriminator is not an SR model) and official ports
# --------------------------------------------------------------------------------------------------------------

_PAPER = "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network, CVPR 2017"
_RGB = InputSpec(color="rgb", pre_upsample=False, pixel_max=1.0)
#: The reimplementation the port follows (no official code exists): its head (InstanceNorm ``_NetG``, ``_NetD``) and
#: the earlier commit with BatchNorm (class ``Net``).
OFFICIAL_CODE_HEAD = "twtygqyy/pytorch-SRResNet@d715729c8805f59dccd4a89acb7af11cb7b1534a"
OFFICIAL_CODE_BN = "twtygqyy/pytorch-SRResNet@11cf32c905df1628a7232790363936c09f870d3f"
_WEIGHTS_IN = (
    WeightsEntry(model="srresnet-in", scale=4, path="srresnet/model_srresnet.pth", format="legacy-pickle",
                 source=f"{OFFICIAL_CODE_HEAD}:README.md (Performance), file model/model_srresnet.pth",
                 homepage="https://github.com/twtygqyy/pytorch-SRResNet",
                 notes="reimplementation weights (InstanceNorm generator per the README); a whole pickled module "
                       "whose classes sr_lib's restricted unpickler does not allow yet; no hash known, so not fetched"),
)

for _name, _norm_kind, _act_kind, _tile_safe, _code, _weights, _desc in (
    ("srresnet", "batch", "lrelu", True, OFFICIAL_CODE_BN, (),
     "SRResNet, BatchNorm (twtygqyy@11cf32c; official LeakyReLU 0.2)"),
    ("srresnet-in", "instance", "lrelu", False, OFFICIAL_CODE_HEAD, _WEIGHTS_IN,
     "SRResNet, InstanceNorm (twtygqyy HEAD _NetG; per-image statistics)"),
    ("srresnet-prelu", "batch", "prelu", True, OFFICIAL_CODE_BN, (),  # twtygqyy's BatchNorm network with PReLU
     "SRResNet as the paper describes it: BatchNorm and PReLU (no weights)"),
):
    register_model(
        ModelEntry(
            name=_name,
            family="srresnet",
            paper=_PAPER,
            build=lambda scale, n=_norm_kind, a=_act_kind: SRResNet(norm=n, act=a, scale=scale),
            build_tiny=lambda scale, n=_norm_kind, a=_act_kind: SRResNet(nf=8, nb=2, norm=n, act=a, scale=scale),
            make=lambda scale, n=_norm_kind, a=_act_kind, **options: SRResNet(**{"norm": n, "act": a, **options},
                                                                              scale=scale),
            scales=SCALES,
            input=_RGB,
            tile_safe=_tile_safe,
            description=_desc,
            paper_name="SRResNet",
            official_code=_code,
            weights=_weights,
        )
    )


_SRC_HEAD = f"{OFFICIAL_CODE_HEAD}:srresnet.py"
_SRC_BN = f"{OFFICIAL_CODE_BN}:srresnet.py"

register_port(
    OfficialPort(
        golden_dir="srresnet",
        source=f"{_SRC_HEAD}:_NetG",
        build=lambda args: SRResNet(**check_official_args(args, {"nf", "nb"}, "_NetG"), norm="instance"),
    )
)
register_port(
    OfficialPort(
        golden_dir="srresnet_bn",
        source=f"{_SRC_BN}:Net",
        build=lambda args: SRResNet(**check_official_args(args, {"nf", "nb"}, "Net"), norm="batch"),
    )
)


def _run_discriminator(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    assert isinstance(model, SRGANDiscriminator)
    logits = model.logits(x)
    return {"output": torch.sigmoid(logits), "logits": logits}


register_port(
    OfficialPort(
        golden_dir="srgan_d",
        source=f"{_SRC_HEAD}:_NetD",
        build=lambda args: SRGANDiscriminator(**check_official_args(args, {"nf", "fc"}, "_NetD")),
        run=_run_discriminator,
    )
)
