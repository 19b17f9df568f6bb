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
from typing import Any, Literal, Mapping

import numpy as np
import torch
from torch import nn

from ..download import github_raw_url
from ..errors import WeightsError
from ..hub import WeightsEntry
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
    """Read an official SRCNN ``.mat`` file (:func:`sr_lib.weights.read_checkpoint`) into our state dict."""
    from ..weights import convert_checkpoint, read_checkpoint

    return convert_checkpoint(read_checkpoint(path), state_dict_from_mat_variables, path)


def checkpoint_filter(checkpoint: Any) -> dict[str, Tensor]:
    """The registry's ``checkpoint_filter`` of SRCNN: a MATLAB file's variables through
    :func:`state_dict_from_mat_variables`, any other checkpoint taken as our state dict (e.g. a training run's)."""
    from ..weights import unwrap_state_dict

    if isinstance(checkpoint, Mapping) and "__header__" in checkpoint:  # what scipy.io.loadmat returns
        return state_dict_from_mat_variables(checkpoint)
    return unwrap_state_dict(checkpoint)


def state_dict_from_mat_variables(mat: Mapping[str, Any]) -> dict[str, Tensor]:
    """The variables of an official SRCNN ``.mat`` file -> our state dict (MATLAB kernels are column-major).

    ``conv1.weight[i, 0] = reshape(weights_conv1[:, i], f1, f1, order='F')``,
    ``conv2.weight[i, j] = reshape(weights_conv2[j, :, i], f2, f2, order='F')``,
    ``conv3.weight[0, j] = reshape(weights_conv3[j, :], f3, f3, order='F')`` (see ``weights/README.md``).
    """
    names = ["weights_conv1", "biases_conv1", "weights_conv2", "biases_conv2", "weights_conv3", "biases_conv3"]
    if not isinstance(mat, Mapping):
        raise WeightsError(f"not an SRCNN model file (a {type(mat).__name__}, not MATLAB variables)")
    missing = [n for n in names if n not in mat]
    if missing:
        raise WeightsError(f"not an SRCNN model file (missing {', '.join(missing)})")
    w1, w2, w3 = (np.asarray(mat[n], dtype=np.float64) for n in names[0::2])
    if w1.ndim != 2 or w3.ndim != 2 or w2.ndim not in (2, 3):
        raise WeightsError(f"unexpected SRCNN weight shapes {w1.shape}, {w2.shape}, {w3.shape}")
    if w2.ndim == 2:  # f2 = 1: MATLAB drops the singleton middle dimension
        w2 = w2[:, None, :]
    f1, f2, f3 = (int(round(np.sqrt(n))) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    n1, n2 = w1.shape[1], w2.shape[2]
    if f1 * f1 != w1.shape[0] or f2 * f2 != w2.shape[1] or f3 * f3 != w3.shape[1] or w2.shape[0] != n1 or w3.shape[0] != n2:
        raise WeightsError(f"inconsistent SRCNN weight shapes {w1.shape}, {w2.shape}, {w3.shape}")

    conv1 = np.stack([flat.reshape(f1, f1, order="F") for flat in w1.T])[:, None]  # (n1, 1, f1, f1)
    conv2 = np.stack([[w2[j, :, i].reshape(f2, f2, order="F") for j in range(n1)] for i in range(n2)])
    conv3 = np.stack([w3[j].reshape(f3, f3, order="F") for j in range(n2)])[None]
    tensors = {
        "conv1.weight": conv1,
        "conv1.bias": np.asarray(mat["biases_conv1"]).reshape(-1),
        "conv2.weight": conv2,
        "conv2.bias": np.asarray(mat["biases_conv2"]).reshape(-1),
        "conv3.weight": conv3,
        "conv3.bias": np.asarray(mat["biases_conv3"]).reshape(-1),
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
#: The official SRCNN_v1 MATLAB release (mmlab.ie.cuhk.edu.hk), mirrored on GitHub with its ``model/`` folder.
OFFICIAL_CODE = "WangDequan/SRCNN@85679e2ef74e058a1f1e79fe6ba349e93f1ee8ea"


def _weights(model: str, folder: str, local: str, scale: int, sha256: str, variant: str) -> WeightsEntry:
    repo_path = f"model/{folder}/x{scale}.mat"
    return WeightsEntry(
        model=model, scale=scale, path=f"srcnn/{local}/x{scale}.mat", format="mat",
        source=f"{OFFICIAL_CODE}:{repo_path}", url=github_raw_url(OFFICIAL_CODE, repo_path), sha256=sha256,
        homepage="http://mmlab.ie.cuhk.edu.hk/projects/SRCNN.html", variant=variant,
        notes="official SRCNN_v1 MATLAB release, mirrored on GitHub",
    )


_WEIGHTS = {
    # TPAMI 2016 models (trained on ImageNet)
    "srcnn": tuple(_weights("srcnn", "9-5-5(ImageNet)", "9-5-5_ImageNet", s, h, "ImageNet (TPAMI)") for s, h in (
        (2, "dc06d52ab0ecfb75a4222a33c06c2c23287cf67abbd75b869a178f6305f8cdc1"),
        (3, "fa2ee366d328b942b971c80c24f48dc2b015d5ed4b5790070f720ccfb6ab1578"),
        (4, "3f94150d24e5b60dab2b74f4eaf358aefdc72cbe724d86990435bf877ed452ed"),
    )),
    "srcnn-935": (_weights("srcnn-935", "9-3-5(ImageNet)", "9-3-5_ImageNet", 3,
                           "d798df50cf1e1b265ae63204da726fd6bf8b0e42c6dd2f18d5fe618576eec553", "ImageNet (TPAMI)"),),
    # ECCV 2014 models (91 training images) first: the only 9-1-5 files at x2 and x4, so the default at x3 too
    "srcnn-915": tuple(_weights("srcnn-915", "9-1-5(91 images)", "9-1-5_91images", s, h, "91 images (ECCV)")
                       for s, h in ((2, "51b748297e8669832a4ad27cc4b7eebc6d65d37a77bcb19bef23c1b5f972ea12"),
                                    (3, "ef05325a96221ab9399db844bc833f687796a1078bfa6aacc6930bde60ca5b10"),
                                    (4, "717c2c6f5196a95959f98953f84a359e56fc415eba190b5db016b25896e74862")))
    + (_weights("srcnn-915", "9-1-5(ImageNet)", "9-1-5_ImageNet", 3,
                "63906335110253189230f1190a577b431aaab6c3b677c97f2720da4eab7e6efe", "ImageNet (TPAMI)"),),
}

for _name, _f2, _paper_name, _desc in (
    ("srcnn", 5, "SRCNN", "SRCNN 9-5-5 (TPAMI, ImageNet); the book's default"),
    ("srcnn-935", 3, None, "SRCNN 9-3-5 (TPAMI, ImageNet)"),  # the papers' tables quote the 9-5-5 model only
    ("srcnn-915", 1, None, "SRCNN 9-1-5 (ECCV 2014, 91 images / ImageNet)"),
):
    register_model(
        ModelEntry(
            name=_name,
            family="srcnn",
            paper=_PAPER,
            build=lambda scale, f2=_f2: SRCNN(SRCNNConfig(f2=f2)),
            build_tiny=lambda scale, f2=_f2: SRCNN(SRCNNConfig(f2=f2, n1=8, n2=4)),
            make=lambda scale, f2=_f2, **options: SRCNN(SRCNNConfig(**{"f2": f2, **options})),
            scales=(2, 3, 4),
            input=_Y_UPSAMPLED,
            description=_desc,
            paper_name=_paper_name,
            reference_protocol="matlab-y",  # the SRCNN MATLAB test scripts
            official_code=OFFICIAL_CODE,
            weights=_WEIGHTS[_name],
            checkpoint_filter=checkpoint_filter,
        )
    )
