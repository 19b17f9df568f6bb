"""One registry for every model the book uses (timm style).

Each entry is a *named paper preset*: ``create_model("rcan", scale=4)`` builds the configuration of the paper
for that scale, and ``create_model("rcan", scale=4, tiny=True)`` a small one with every structural feature
kept (used by the CPU tests). The entry also says how the network expects its input (Y or RGB, pre-upsampled
or not, pixel range), so that evaluation, training and the CLI need no per-model special cases.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn

from ..errors import ConfigError

Tensor = torch.Tensor


def default_predict(model: nn.Module, x: Tensor) -> Tensor:
    """Run the network and return its super-resolved image (most models return exactly that)."""
    return model(x)


@dataclass(frozen=True)
class InputSpec:
    """How a network expects its input.

    color: ``"y"`` (luma of MATLAB ``rgb2ycbcr``, one channel) or ``"rgb"``.
    pre_upsample: the network takes the bicubic-upscaled image at HR size (SRCNN, VDSR) instead of the LR image.
    pixel_max: the value of white: 1.0 for [0, 1] models, 255.0 for the EDSR code base (``rgb_range=255``).
    """

    color: Literal["y", "rgb"]
    pre_upsample: bool
    pixel_max: float

    @property
    def channels(self) -> int:
        return 1 if self.color == "y" else 3


@dataclass(frozen=True)
class ModelEntry:
    """A registered model family with its paper presets.

    build: ``scale -> module`` in the paper's configuration.
    build_tiny: ``scale -> module`` in a small configuration with the same structure, for CPU tests.
    scales: the scales for which the paper (or official code) defines a preset.
    predict: ``(module, input) -> SR image``; models returning several tensors (DAN) pick the final image here.
    tile_safe: whether tiled inference with enough overlap equals whole-image inference
        (False for global pooling, attention over the whole image, or per-image normalisation).
    params_without_grad: ``fnmatch`` patterns of parameters that get no gradient from the final output: registered
        but unused in the official network (SAN), detached on purpose (DAN's Estimator), or, given as a function of
        the scale, the idle branches of a multi-scale model (MDSR). The registry test asserts exactly these.
    """

    name: str
    family: str
    paper: str
    build: Callable[[int], nn.Module]
    build_tiny: Callable[[int], nn.Module]
    scales: tuple[int, ...]
    input: InputSpec
    predict: Callable[[nn.Module, Tensor], Tensor] = default_predict
    tile_safe: bool = True
    params_without_grad: tuple[str, ...] | Callable[[int], tuple[str, ...]] = ()
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def unused_parameters(self, scale: int) -> tuple[str, ...]:
        """The ``params_without_grad`` patterns at ``scale``."""
        p = self.params_without_grad
        return p(scale) if callable(p) else p

    def check_scale(self, scale: int) -> None:
        if scale not in self.scales:
            allowed = ", ".join(f"x{s}" for s in self.scales)
            raise ConfigError(f"model '{self.name}' has no preset for x{scale}; available: {allowed}")


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to the registry; names are unique."""
    if entry.name in _REGISTRY:
        raise ValueError(f"model name registered twice: {entry.name}")
    _REGISTRY[entry.name] = entry
    return entry


def get_model_entry(name: str) -> ModelEntry:
    """Return the entry for ``name`` or raise a one-line :class:`ConfigError` suggesting close names."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown model '{name}'{hint}; run 'sr-lib models' for the list") from None


def list_models() -> list[str]:
    """All registered names, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def create_model(name: str, scale: int, *, tiny: bool = False) -> nn.Module:
    """Build the paper preset ``name`` for ``scale`` (or its tiny test configuration)."""
    entry = get_model_entry(name)
    entry.check_scale(scale)
    return entry.build_tiny(scale) if tiny else entry.build(scale)


def _ensure_loaded() -> None:
    # Importing the package registers every model file (see sr_lib/models/__init__.py).
    from . import _import_all  # noqa: F401
