"""SRCNN — Dong, Loy, He, Tang: "Image Super-Resolution Using Deep Convolutional Networks" (ECCV 2014; TPAMI 2016).

Three layers read as sparse coding (paper Sec. 3.1, Eq. 1-3):

* patch extraction and representation ``F1 = max(0, W1 * Y + B1)``  (f1 x f1 kernels, n1 = 64 maps),
* non-linear mapping ``F2 = max(0, W2 * F1 + B2)``                  (f2 x f2 kernels, n2 = 32 maps),
* reconstruction ``F(Y) = W3 * F2 + B3``                              (f3 x f3 kernels, 1 output).

Input and output: the Y channel at HR size, the input being the bicubic-upscaled LR image, in [0, 1].
The official MATLAB forward (``SRCNN.m``) computes each layer with ``imfilter(x, k, 'same', 'replicate')``: a
correlation with *replicate* padding, so the output has the input's size. ``padding_mode="zeros"`` is the
ablation the book runs (it costs about 8 dB with the official weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..errors import WeightsError
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor


@dataclass(frozen=True)
class SRCNNConfig:
    """Kernel sizes f1-f2-f3 and widths n1, n2 (paper notation; 9-5-5 is the TPAMI model)."""

    f1: int = 9
    f2: int = 5
    f3: int = 5
    n1: int = 64
    n2: int = 32
    padding_mode: Literal["replicate", "zeros"] = "replicate"
    init: Literal["he", "paper"] = "he"


class SRCNN(nn.Module):
    """SRCNN on one (luma) channel; keys ``conv1``, ``conv2``, ``conv3``."""

    def __init__(self, config: SRCNNConfig = SRCNNConfig()) -> None:
        super().__init__()
        self.config = config

        def conv(cin: int, cout: int, k: int) -> nn.Conv2d:
            return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode=config.padding_mode)

        self.conv1 = conv(1, config.n1, config.f1)  # patch extraction and representation
        self.conv2 = conv(config.n1, config.n2, config.f2)  # non-linear mapping
        self.conv3 = conv(config.n2, 1, config.f3)  # reconstruction
        self.reset_parameters(config.init)

    def reset_parameters(self, scheme: Literal["he", "paper"] = "he") -> None:
        """Initialise for training from scratch.

        ``"paper"``: N(0, 0.001) weights, zero biases (Sec. 4.1 of the ECCV paper) — made for SGD over ~10^8
        backpropagations. ``"he"`` (default): He et al.'s normal init for the ReLU layers and a unit-gain one for
        the linear reconstruction layer, zero biases; with Adam it reaches the bicubic baseline within a few hundred
        iterations instead of thousands (measured in ``benchmarks/bench_train_srcnn.py``).
        """
        for conv, gain in ((self.conv1, "relu"), (self.conv2, "relu"), (self.conv3, "linear")):
            if scheme == "paper":
                nn.init.normal_(conv.weight, std=1e-3)
            else:
                nn.init.kaiming_normal_(conv.weight, nonlinearity=gain)
            nn.init.zeros_(conv.bias)

    def forward(self, y: Tensor) -> Tensor:
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(y)))))


def state_dict_from_mat(path: str | Path) -> dict[str, Tensor]:
    """Read an official SRCNN ``.mat`` file into our state dict (MATLAB kernels are column-major).

    ``conv1.weight[i, 0] = reshape(weights_conv1[:, i], f1, f1, order='F')``,
    ``conv2.weight[i, j] = reshape(weights_conv2[j, :, i], f2, f2, order='F')``,
    ``conv3.weight[0, j] = reshape(weights_conv3[j, :], f3, f3, order='F')`` (see ``weights/README.md``).
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"SRCNN weights not found: {path}")
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises many types for a corrupt file
        raise WeightsError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__})") from None
    names = ["weights_conv1", "biases_conv1", "weights_conv2", "biases_conv2", "weights_conv3", "biases_conv3"]
    missing = [n for n in names if n not in mat]
    if missing:
        raise WeightsError(f"{path}: not an SRCNN model file (missing {', '.join(missing)})")
    w1, w2, w3 = (np.asarray(mat[n], dtype=np.float64) for n in names[0::2])
    if w1.ndim != 2 or w3.ndim != 2 or w2.ndim not in (2, 3):
        raise WeightsError(f"{path}: unexpected SRCNN weight shapes {w1.shape}, {w2.shape}, {w3.shape}")
    if w2.ndim == 2:  # f2 = 1: MATLAB drops the singleton middle dimension
        w2 = w2[:, None, :]
    f1, f2, f3 = (int(round(np.sqrt(n))) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    n1, n2 = w1.shape[1], w2.shape[2]
    if f1 * f1 != w1.shape[0] or f2 * f2 != w2.shape[1] or f3 * f3 != w3.shape[1] or w2.shape[0] != n1 or w3.shape[0] != n2:
        raise WeightsError(f"{path}: inconsistent SRCNN weight shapes {w1.shape}, {w2.shape}, {w3.shape}")

    conv1 = np.stack([flat.reshape(f1, f1, order="F") for flat in w1.T])[:, None]  # (n1, 1, f1, f1)
    conv2 = np.stack([[w2[j, :, i].reshape(f2, f2, order="F") for j in range(n1)] for i in range(n2)])
    conv3 = np.stack([w3[j].reshape(f3, f3, order="F") for j in range(n2)])[None]
    tensors = {
        "conv1.weight": conv1,
        "conv1.bias": mat["biases_conv1"].reshape(-1),
        "conv2.weight": conv2,
        "conv2.bias": mat["biases_conv2"].reshape(-1),
        "conv3.weight": conv3,
        "conv3.bias": mat["biases_conv3"].reshape(-1),
    }
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}


def load_srcnn_mat(path: str | Path, padding_mode: Literal["replicate", "zeros"] = "replicate") -> SRCNN:
    """Build the SRCNN whose kernel sizes the ``.mat`` file implies and load it (``strict=True``)."""
    state = state_dict_from_mat(path)
    n1, _, f1, _ = state["conv1.weight"].shape
    n2, _, f2, _ = state["conv2.weight"].shape
    f3 = state["conv3.weight"].shape[-1]
    model = SRCNN(SRCNNConfig(f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, padding_mode=padding_mode))
    model.load_state_dict(state, strict=True)
    return model


_PAPER = "Dong et al., Image Super-Resolution Using Deep Convolutional Networks, ECCV 2014 / TPAMI 2016"
_Y_UPSAMPLED = InputSpec(color="y", pre_upsample=True, pixel_max=1.0)

for _name, _f2, _desc in (
    ("srcnn", 5, "SRCNN 9-5-5 (TPAMI, ImageNet); the book's default"),
    ("srcnn-935", 3, "SRCNN 9-3-5 (TPAMI, ImageNet)"),
    ("srcnn-915", 1, "SRCNN 9-1-5 (ECCV 2014, 91 images / ImageNet)"),
):
    register_model(
        ModelEntry(
            name=_name,
            family="srcnn",
            paper=_PAPER,
            build=lambda scale, f2=_f2: SRCNN(SRCNNConfig(f2=f2)),
            build_tiny=lambda scale, f2=_f2: SRCNN(SRCNNConfig(f2=f2, n1=8, n2=4)),
            scales=(2, 3, 4),
            input=_Y_UPSAMPLED,
            description=_desc,
        )
    )
