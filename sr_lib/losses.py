"""Losses of SRGAN — Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network" (CVPR 2017), Sec. 2.2.

* Perceptual loss (Eq. 3): ``l_SR = l_X + 1e-3 * l_Gen`` — a content loss plus a weighted adversarial loss.
* Pixel-wise MSE content loss (Eq. 4): plain ``F.mse_loss(sr, hr)`` (what SRResNet is trained with).
* VGG content loss (Eq. 5): ``l_VGG/i,j = 1 / (W_ij H_ij) * sum_{x,y} (phi_ij(I_HR) - phi_ij(G(I_LR)))^2`` where
  ``phi_ij`` is the feature map of the j-th convolution (after activation) before the i-th max-pooling of the
  ImageNet-trained VGG19: "VGG22" = ``relu2_2``, "VGG54" = ``relu5_4`` (the SRGAN of the paper). Here the mean
  runs over channels as well (``F.mse_loss``), which only rescales the loss by the channel count. Sec. 3.2 adds
  that the feature maps were "rescaled by a factor of 1/12.75" to bring the VGG loss to the scale of the MSE:
  ``feature_scale=SRGAN_FEATURE_SCALE`` does that (it scales the loss by 1/12.75^2); the default is 1.
* Adversarial loss (Eq. 6): ``l_Gen = sum_n -log D(G(I_LR))`` (the "non-saturating" form); the discriminator
  maximises Eq. 2, i.e. minimises the binary cross-entropy ``-log D(I_HR) - log(1 - D(G(I_LR)))``. Both are
  computed here from the discriminator's *logits* (numerically stable) and averaged over the batch.

VGG19 weights: torchvision's ImageNet checkpoint ``vgg19-dcbb9e9d.pth`` (a plain state dict with keys
``features.<i>.weight|bias`` and ``classifier.{0,3,6}.weight|bias``; URL and sha256 in
:data:`sr_lib.hub.VGG19_WEIGHTS`, found or downloaded by :func:`vgg19_weights_path`). :class:`VGG19Features` uses torchvision's
layer indices, so that file loads without torchvision; only ``features`` is used. Inputs are RGB in [0, 1] and
are normalised with the ImageNet mean and std, as torchvision's models expect (the paper's generator outputs
[-1, 1]: map such images with ``(x + 1) / 2`` first; twtygqyy's generator already works in [0, 1]).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .download import check_file, torch_hub_prefix
from .errors import ConfigError, WeightsError
from .hub import VGG19_WEIGHTS

Tensor = torch.Tensor

VGG19_URL = str(VGG19_WEIGHTS.url)
VGG19_FILENAME = VGG19_WEIGHTS.path.rsplit("/", 1)[1]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Sec. 3.2: "the VGG feature maps were also rescaled by a factor of 1/12.75".
SRGAN_FEATURE_SCALE = 1.0 / 12.75
#: Eq. 3: weight of the adversarial loss in the perceptual loss.
SRGAN_ADVERSARIAL_WEIGHT = 1e-3

# VGG19 ("configuration E"): conv widths per block, each block ending in a 2x2 max-pooling.
_VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))


def _vgg19_layer_names() -> list[str]:
    names = []
    for b, widths in enumerate(_VGG19_BLOCKS, start=1):
        for j in range(1, len(widths) + 1):
            names += [f"conv{b}_{j}", f"relu{b}_{j}"]
        names.append(f"pool{b}")
    return names


#: torchvision ``vgg19().features`` index of every layer: ``conv1_1`` -> 0, ``relu5_4`` -> 35, ``pool5`` -> 36.
VGG19_LAYERS: dict[str, int] = {name: i for i, name in enumerate(_vgg19_layer_names())}
#: Paper names of Eq. 5 ("VGG22", "VGG54") -> layer.
VGG19_PAPER_LAYERS = {"VGG22": "relu2_2", "VGG54": "relu5_4"}


def vgg19_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of torchvision's ``vgg19()`` state dict (features and classifier)."""
    shapes: dict[str, tuple[int, ...]] = {}
    cin = 3
    for name, index in VGG19_LAYERS.items():
        if name.startswith("conv"):
            b, j = (int(s) for s in name[4:].split("_"))
            cout = _VGG19_BLOCKS[b - 1][j - 1]
            shapes[f"features.{index}.weight"] = (cout, cin, 3, 3)
            shapes[f"features.{index}.bias"] = (cout,)
            cin = cout
    for index, (fin, fout) in zip((0, 3, 6), ((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000))):
        shapes[f"classifier.{index}.weight"] = (fout, fin)
        shapes[f"classifier.{index}.bias"] = (fout,)
    return shapes


def _missing_weights_message(what: str) -> str:
    return (
        f"{what}; the VGG19 perceptual loss needs torchvision's ImageNet VGG19 weights: download {VGG19_URL} "
        f"and pass the path of {VGG19_FILENAME}"
    )


def check_vgg19_state_dict(state_dict: object, source: str | Path = "state dict") -> dict[str, Tensor]:
    """Assert that ``state_dict`` is a torchvision-format VGG19 state dict (exact keys and shapes)."""
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise WeightsError(f"{source}: not a state dict of tensors (expected torchvision's {VGG19_FILENAME})")
    expected = vgg19_state_dict_shapes()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise WeightsError(
            f"{source}: not a torchvision VGG19 state dict ({len(missing)} keys missing, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )
    for key, shape in expected.items():
        if tuple(state_dict[key].shape) != shape:
            raise WeightsError(f"{source}: {key} has shape {tuple(state_dict[key].shape)}, expected {shape}")
    return {k: state_dict[k] for k in expected}


def vgg19_weights_path(weights_dir: str | Path | None = None, download: bool = False) -> Path:
    """torchvision's VGG19 file, found (``weights_dir`` > ``$SR_WEIGHTS_DIR`` > the cache) and hash-checked by
    :func:`sr_lib.hub.resolve_aux`; downloaded (548 MiB) into the cache only if ``download``."""
    from .hub import resolve_aux

    return resolve_aux("vgg19", None, weights_dir, download)


def load_vgg19_state_dict(path: str | Path | None) -> dict[str, Tensor]:
    """Read torchvision's ``vgg19-*.pth`` safely (:func:`sr_lib.weights.read_checkpoint`) and check keys and shapes.

    The published file's sha256 is checked; any other file named like torchvision's (``vgg19-<8 hex>.pth``) must have
    a sha256 starting with those hex digits (torch.hub's convention). Any problem is one :class:`WeightsError` line
    that says where to get the file.
    """
    from .weights import read_checkpoint

    if path is None:
        raise WeightsError(_missing_weights_message("no VGG19 weights given"))
    path = Path(path)
    if not path.is_file():
        raise WeightsError(_missing_weights_message(f"VGG19 weights not found: {path}"))
    published = path.name == VGG19_FILENAME
    check_file(path, sha256=VGG19_WEIGHTS.sha256 if published else None, sha256_prefix=torch_hub_prefix(path.name),
               what="torchvision VGG19", error=WeightsError)
    return check_vgg19_state_dict(read_checkpoint(path), path)


class VGG19Features(nn.Module):
    """VGG19 ``features`` up to and including ``layer`` (default ``"relu5_4"``, the paper's VGG54), frozen.

    layer: a name of :data:`VGG19_LAYERS` (``conv<b>_<j>``, ``relu<b>_<j>``, ``pool<b>``) or "VGG22"/"VGG54".
    normalize: subtract the ImageNet mean and divide by its std first (inputs are RGB in [0, 1]).
    The submodule indices are torchvision's, so ``features.<i>.weight`` keys load unchanged.
    """

    def __init__(self, layer: str = "relu5_4", normalize: bool = True) -> None:
        super().__init__()
        layer = VGG19_PAPER_LAYERS.get(layer, layer)
        if layer not in VGG19_LAYERS:
            raise ConfigError(f"unknown VGG19 layer '{layer}'; use e.g. relu5_4 (VGG54) or relu2_2 (VGG22)")
        self.layer = layer
        self.normalize = normalize
        layers: list[nn.Module] = []
        cin = 3
        for name in list(VGG19_LAYERS)[: VGG19_LAYERS[layer] + 1]:
            if name.startswith("conv"):
                b, j = (int(s) for s in name[4:].split("_"))
                cout = _VGG19_BLOCKS[b - 1][j - 1]
                layers.append(nn.Conv2d(cin, cout, 3, padding=1))
                cin = cout
            elif name.startswith("relu"):
                layers.append(nn.ReLU(inplace=True))
            else:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def load_torchvision_state_dict(self, state_dict: Mapping[str, Tensor]) -> VGG19Features:
        """Load the ``features`` entries this truncated network uses from a full torchvision state dict."""
        state_dict = check_vgg19_state_dict(state_dict)
        self.load_state_dict({k: state_dict[k] for k in self.state_dict()}, strict=True)
        return self

    def forward(self, x: Tensor) -> Tensor:
        if self.normalize:
            x = (x - self.mean) / self.std
        return self.features(x)


class PerceptualLoss(nn.Module):
    """VGG content loss (paper Eq. 5): ``mse(s * phi(sr), s * phi(hr))`` with frozen VGG19 features ``phi``.

    weights: path of torchvision's ``vgg19-dcbb9e9d.pth`` (or its state dict). Without it this fails with one
        :class:`WeightsError` line saying where to download it; there is no silent random-VGG fallback.
    layer: VGG19 layer (default ``"relu5_4"`` = VGG54 of SRGAN; ``"relu2_2"`` = VGG22).
    feature_scale: ``s``; :data:`SRGAN_FEATURE_SCALE` = 1/12.75 reproduces Sec. 3.2, the default 1 does not rescale.
    """

    def __init__(
        self,
        weights: str | Path | Mapping[str, Tensor] | None,
        layer: str = "relu5_4",
        feature_scale: float = 1.0,
    ) -> None:
        super().__init__()
        state_dict = weights if isinstance(weights, Mapping) else load_vgg19_state_dict(weights)
        self.vgg = VGG19Features(layer).load_torchvision_state_dict(state_dict).eval()
        self.feature_scale = feature_scale

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        if sr.shape != hr.shape:
            raise ConfigError(f"perceptual loss: SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ in shape")
        with torch.no_grad():
            target = self.vgg(hr) * self.feature_scale
        return F.mse_loss(self.vgg(sr) * self.feature_scale, target)


def adversarial_generator_loss(fake_logits: Tensor) -> Tensor:
    """Eq. 6 averaged over the batch: ``mean(-log D(G(I_LR)))`` from the discriminator's logits."""
    return F.softplus(-fake_logits).mean()  # -log(sigmoid(z)) = softplus(-z)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy of Eq. 2: ``mean(-log D(I_HR)) + mean(-log(1 - D(G(I_LR))))`` from logits."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def srgan_generator_loss(
    content_loss: Tensor, fake_logits: Tensor, adversarial_weight: float = SRGAN_ADVERSARIAL_WEIGHT
) -> Tensor:
    """Perceptual loss of Eq. 3: ``content + 1e-3 * adversarial``."""
    return content_loss + adversarial_weight * adversarial_generator_loss(fake_logits)
