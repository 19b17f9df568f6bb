"""VDSR — Kim, Lee, Lee: "Accurate Image Super-Resolution Using Very Deep Convolutional Networks" (CVPR 2016).

A plain stack of ``d = 20`` 3x3 convolutions with 64 maps and ReLU (paper Fig. 2), trained to predict the
*residual* ``r = y - x`` between the HR image ``y`` and the bicubic-upscaled input ``x``, so that the output is
``f(x) + x`` (residual learning, paper Sec. 3.2, analysed in Sec. 4.2). One network serves several scales
(x2, x3, x4 mixed in training, Sec. 3.2 and 4.3). Input and output: the Y channel at HR size in [0, 1].

The paper's (Caffe) convolutions have biases: 665,921 parameters (preset ``"vdsr"``). The available PyTorch
weights come from the reimplementation twtygqyy/pytorch-vdsr (:data:`OFFICIAL_CODE`, ``vdsr.py``, class ``Net``),
whose convolutions have **no bias**: 664,704 parameters (preset ``"vdsr-nobias"``, and the default of
:class:`VDSR`, as it is the official code we port). Its module names are kept: ``input``,
``residual_layer.{i}.conv`` (18 blocks), ``output``, with ``residual_layer`` registered *first*, so the state-dict
order is ``residual_layer.*``, ``input.weight``, ``output.weight`` as in the official checkpoint. Zero padding.

Its checkpoint ``model_epoch_50.pth`` is a legacy torch pickle of a whole module; :func:`load_vdsr_legacy_pickle`
reads it without executing code (see :mod:`sr_lib.safe_pickle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..download import github_raw_url
from ..errors import ConfigError, WeightsError
from ..hub import WeightsEntry
from ..safe_pickle import InertObject, inert_module_state_dict, load_legacy_torch_file
from .official import OfficialPort, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

#: The reimplementation whose code and weights the book uses (the authors released MATLAB/Caffe code only).
OFFICIAL_CODE = "twtygqyy/pytorch-vdsr@514b021044018baf909e79f48392783daa592888"

#: Classes that ``model_epoch_50.pth`` references; the safe loader maps them to inert stand-ins.
VDSR_PICKLE_CLASSES = (
    "vdsr.Net",
    "vdsr.Conv_ReLU_Block",
    "torch.nn.modules.conv.Conv2d",
    "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.container.Sequential",
    "torch.nn.parameter.Parameter",
    "torch.nn.backends.thnn._get_thnn_function_backend",  # torch 0.3 stored a backend handle in every module
)

#: ``model/model_epoch_50.pth`` of :data:`OFFICIAL_CODE` (the ``weights`` of preset ``"vdsr-nobias"``).
VDSR_EPOCH50 = WeightsEntry(
    model="vdsr-nobias", scale=None, path="vdsr/model_epoch_50.pth", format="legacy-pickle",
    source=f"{OFFICIAL_CODE}:model/model_epoch_50.pth", url=github_raw_url(OFFICIAL_CODE, "model/model_epoch_50.pth"),
    sha256="eab4d79ae5a6e5acef4c55e46015aed225ade207679bcb6695b07af8fb18e876",
    notes="widely used reimplementation (no biases), not the authors' Caffe model; one network for x2/x3/x4; "
          "a whole pickled nn.Module, read without executing it",
    pickle_classes=VDSR_PICKLE_CLASSES,
)
#: SHA-256 of :data:`VDSR_EPOCH50`.
VDSR_EPOCH50_SHA256 = str(VDSR_EPOCH50.sha256)


class Conv_ReLU_Block(nn.Module):  # noqa: N801  (official name)
    """``relu(conv3x3(x))``, one of the 18 middle layers."""

    def __init__(self, n_feats: int = 64, bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_feats, n_feats, 3, padding=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x))


class VDSR(nn.Module):
    """VDSR on one (luma) channel: ``output(relu(...relu(input(x)))) + x`` with ``depth`` convolutions in all.

    depth: number of convolution layers (paper: 20, i.e. ``depth - 2`` middle blocks).
    n_feats: width of the hidden layers (paper: 64).
    bias: convolutions with biases (the paper) or without (twtygqyy/pytorch-vdsr, the default).
    residual: add the input to the output (the paper); ``False`` is the non-residual network of the paper's
        convergence comparison (Sec. 4.2, Fig. 4), which must predict the whole HR image.
    """

    def __init__(self, depth: int = 20, n_feats: int = 64, bias: bool = False, residual: bool = True) -> None:
        super().__init__()
        if depth < 2:
            raise ConfigError(f"VDSR needs at least 2 convolution layers, got depth={depth}")
        # official registration order: residual_layer before input (it fixes the state-dict order)
        self.residual_layer = nn.Sequential(*[Conv_ReLU_Block(n_feats, bias) for _ in range(depth - 2)])
        self.input = nn.Conv2d(1, n_feats, 3, padding=1, bias=bias)
        self.output = nn.Conv2d(n_feats, 1, 3, padding=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.output(self.residual_layer(self.relu(self.input(x))))
        return out + x if self.residual else out  # global residual learning (paper Sec. 3.2)


# --------------------------------------------------------------------------------------------------------------
# The official checkpoint: a legacy whole-module pickle, read without executing it
# --------------------------------------------------------------------------------------------------------------


def _expected_shapes(depth: int = 20, n_feats: int = 64) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in VDSR(depth, n_feats, bias=False).state_dict().items()}


def load_vdsr_legacy_pickle(
    path: str | Path, expected_sha256: str | None = VDSR_EPOCH50_SHA256
) -> dict[str, Tensor]:
    """Read twtygqyy/pytorch-vdsr's ``model_epoch_50.pth`` (``{'epoch': 50, 'model': vdsr.Net}``) into a state dict.

    Nothing from the file is executed: only tensor-rebuild functions and the classes in
    :data:`VDSR_PICKLE_CLASSES` (as inert stand-ins) are resolved. The file's SHA-256 must equal
    ``expected_sha256`` (the published file's by default; pass ``None`` explicitly for another checkpoint of the
    same class). Returns ``{"residual_layer.{i}.conv.weight", "input.weight", "output.weight"}`` (float32) for
    :class:`VDSR` with ``bias=False``; any problem is one :class:`WeightsError` line.
    """
    obj = load_legacy_torch_file(path, allowed_classes=VDSR_PICKLE_CLASSES, expected_sha256=expected_sha256)
    try:
        return state_dict_from_pickle(obj)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None


def checkpoint_filter(checkpoint: Any) -> dict[str, Tensor]:
    """The registry's ``checkpoint_filter`` of VDSR: a pickled pytorch-vdsr module through
    :func:`state_dict_from_pickle`, any other checkpoint taken as our state dict (e.g. a training run's)."""
    from ..weights import unwrap_state_dict

    net = checkpoint.get("model") if isinstance(checkpoint, dict) else checkpoint
    if isinstance(net, InertObject):
        return state_dict_from_pickle(checkpoint)
    return unwrap_state_dict(checkpoint)


def state_dict_from_pickle(checkpoint: Any) -> dict[str, Tensor]:
    """pytorch-vdsr's pickled ``{'epoch': 50, 'model': vdsr.Net}`` (inert stand-ins) -> our state dict, checked
    (keys, shapes, float32, finite) and in the official order."""
    net = checkpoint.get("model") if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(net, InertObject) or type(net).qualname != "vdsr.Net":
        raise WeightsError("not a pytorch-vdsr checkpoint (expected a pickled vdsr.Net under 'model')")
    state = inert_module_state_dict(net)
    expected = _expected_shapes()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise WeightsError(f"not the 20-layer bias-free VDSR (missing {missing[:2]}, unexpected {unexpected[:2]})")
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape or tensor.dtype != torch.float32:
            raise WeightsError(f"{key} is {tensor.dtype} {tuple(tensor.shape)}, expected float32 {shape}")
        if not torch.isfinite(tensor).all():
            raise WeightsError(f"{key} has non-finite values")
    return {k: state[k] for k in expected}  # official order


def load_vdsr_weights(path: str | Path, expected_sha256: str | None = VDSR_EPOCH50_SHA256) -> VDSR:
    """Build preset ``"vdsr-nobias"`` and load ``model_epoch_50.pth`` into it (``strict=True``), in eval mode."""
    model = VDSR(bias=False)
    model.load_state_dict(load_vdsr_legacy_pickle(path, expected_sha256), strict=True)
    return model.eval()


# --------------------------------------------------------------------------------------------------------------
# Registry and official port
# --------------------------------------------------------------------------------------------------------------

_PAPER = "Kim, Lee, Lee, Accurate Image Super-Resolution Using Very Deep Convolutional Networks, CVPR 2016"
_Y_UPSAMPLED = InputSpec(color="y", pre_upsample=True, pixel_max=1.0)

for _name, _bias, _protocol, _weights, _desc in (
    ("vdsr", True, "matlab-y", (), "VDSR as in the paper: 20 conv layers with biases (665,921 params); "
     "no official PyTorch weights"),  # the authors' MATLAB test code
    ("vdsr-nobias", False, "float", (VDSR_EPOCH50,), "twtygqyy/pytorch-vdsr: 20 conv layers without biases "
     "(664,704 params); model_epoch_50.pth"),  # pytorch-vdsr's eval.py
):
    register_model(
        ModelEntry(
            name=_name,
            family="vdsr",
            paper=_PAPER,
            build=lambda scale, bias=_bias: VDSR(bias=bias),
            build_tiny=lambda scale, bias=_bias: VDSR(depth=4, n_feats=8, bias=bias),
            make=lambda scale, bias=_bias, **options: VDSR(**{"bias": bias, **options}),
            scales=(2, 3, 4),  # one network for every scale
            input=_Y_UPSAMPLED,
            description=_desc,
            paper_name="VDSR",
            reference_protocol=_protocol,
            official_code=OFFICIAL_CODE,
            weights=_weights,
            checkpoint_filter=checkpoint_filter,
        )
    )


def _build_official(args: Mapping[str, Any]) -> VDSR:
    if args:
        raise ConfigError(f"twtygqyy vdsr.Net takes no constructor arguments, got {sorted(args)}")
    return VDSR(bias=False)


register_port(OfficialPort(golden_dir="vdsr", source=f"{OFFICIAL_CODE}:vdsr.py:Net", build=_build_official))
