"""One registry for every model the book uses (timm style).

Each entry is a *named paper preset*: ``create_model("rcan", scale=4)`` builds the configuration of the paper
for that scale, and ``create_model("rcan", scale=4, tiny=True)`` a small one with every structural feature
kept (used by the CPU tests). The entry also says how the network expects its input (Y or RGB, pre-upsampled
or not, pixel range), so that evaluation, training and the CLI need no per-model special cases.

The entry is the one home of every fact about the model (timm's ``default_cfgs`` / ``checkpoint_filter_fn``):
its row in the papers' tables, the protocol of its published numbers, the pinned official code, its published
weights files and the converter from an official checkpoint to our state dict. :mod:`sr_lib.hub`,
:mod:`sr_lib.weights`, :mod:`sr_lib.complexity`, :mod:`sr_lib.repro` and the model zoo read them from here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import torch
from torch import nn

from ..errors import ConfigError
from ..hub import WeightsEntry

Tensor = torch.Tensor
#: The evaluation protocols of :mod:`sr_lib.evaluate` (where the pipeline rounds).
ProtocolName = Literal["standard", "matlab-y", "float"]
#: ``checkpoint -> state dict``: an official checkpoint, as :func:`sr_lib.weights.read_checkpoint` reads it (a torch
#: state dict or wrapper, a ``.mat`` file's variables, a pickled module's inert stand-in), to ours; a problem is one
#: :class:`~sr_lib.errors.WeightsError` line (the caller prefixes the file name).
CheckpointFilter = Callable[[Any], dict[str, Tensor]]
#: ``(module, weights_dir, download)``: fill buffers that come from auxiliary files (see ``load_aux_buffers``).
AuxLoader = Callable[[nn.Module, str | Path | None, bool], None]


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
    make: ``(scale, **options) -> module``, the paper preset with constructor options replaced (``options`` are the
        family's own constructor/config names; an unknown name raises). Recipes use it for scaled-down models.
    training_loss: ``(module, input, target, extras) -> loss`` when the model is trained with a loss of its own
        (CMSC's cascaded supervision, DAN's SR + kernel loss); ``extras`` carries e.g. the true blur ``kernel``.
        None: the engine's pixel loss on ``predict``'s output.
    params_without_grad: ``fnmatch`` patterns of parameters that get no gradient from the final output: registered
        but unused in the official network (SAN), detached on purpose (DAN's Estimator), or, given as a function of
        the scale, the idle branches of a multi-scale model (MDSR). The registry test asserts exactly these.

    Facts read by the hub, the weights loader, the complexity tables, ``repro`` and the model zoo:

    paper_name: the ``model`` column of ``resources/paper_results.csv`` for this preset ("SRCNN", "DAN"), or None
        when the papers' tables have no row for it (CMSC, SRCNN 9-3-5 / 9-1-5).
    paper_variant: the start of the CSV's ``variant`` column when two presets share a ``paper_name`` but not their
        numbers (DANv1 / DANv2, MSRN's RGB retraining / the paper's Y model); None: the primary rows.
    reference_protocol: the evaluation protocol under which the published numbers were computed
        (:data:`sr_lib.evaluate.PROTOCOLS`): ``"matlab-y"`` for the SRCNN-era MATLAB scripts, ``"float"`` for
        pytorch-vdsr's ``eval.py``, ``"standard"`` (EDSR/RCAN scripts) otherwise.
    official_code: ``"owner/name@<40-hex commit>"`` of the code this preset follows (the authors' repository, or the
        reimplementation named in ``description`` when the authors published none on GitHub); the only place the
        commit is written (official ports, weights sources and complexity tables derive theirs from it). None: no
        code to follow (bicubic interpolation, CMSC's reconstruction).
    weights: the published weights files of this preset (:class:`sr_lib.hub.WeightsEntry`, ``model`` = ``name``),
        model weights first in the order :func:`sr_lib.hub.find_weights` prefers them, then auxiliary files.
    checkpoint_filter: official checkpoint -> our state dict (:data:`CheckpointFilter`); None: the checkpoint is
        our state dict, possibly wrapped (``{"state_dict": ...}``, ``module.`` prefixes) or pickled as a whole module.
    load_aux_buffers: fills buffers a network takes from auxiliary files before it is trained from scratch (DAN's PCA
        matrix, resolved and hash-checked through the hub); models are always *built* without reading files or the
        environment. None: nothing to fill.
    """

    name: str
    family: str
    paper: str
    build: Callable[[int], nn.Module]
    build_tiny: Callable[[int], nn.Module]
    scales: tuple[int, ...]
    input: InputSpec
    paper_name: str | None
    official_code: str | None
    predict: Callable[[nn.Module, Tensor], Tensor] = default_predict
    tile_safe: bool = True
    params_without_grad: tuple[str, ...] | Callable[[int], tuple[str, ...]] = ()
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    make: Callable[..., nn.Module] | None = None
    training_loss: Callable[[nn.Module, Tensor, Tensor, Mapping[str, Tensor]], Tensor] | None = None
    paper_variant: str | None = None
    reference_protocol: ProtocolName = "standard"
    weights: tuple[WeightsEntry, ...] = ()
    checkpoint_filter: CheckpointFilter | None = None
    load_aux_buffers: AuxLoader | None = None

    def __post_init__(self) -> None:
        if self.official_code is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", self.official_code):
            raise ValueError(f"{self.name}: official_code must be 'owner/name@<40-hex commit>', "
                             f"got {self.official_code!r}")
        for w in self.weights:
            if w.model != self.name:
                raise ValueError(f"{self.name}: weights entry {w.path} names model {w.model!r}")

    def official_source(self, path: str) -> str:
        """``"owner/name@commit:path"``: a file (``:Class``) of :attr:`official_code`."""
        if self.official_code is None:
            raise ConfigError(f"model '{self.name}' follows no official code")
        return f"{self.official_code}:{path}"

    def create(self, scale: int, options: Mapping[str, Any] | None = None) -> nn.Module:
        """The paper preset at ``scale``, or a variant with some constructor ``options`` changed (training recipes)."""
        self.check_scale(scale)
        if not options:
            return self.build(scale)
        if self.make is None:
            raise ConfigError(f"model '{self.name}' takes no options (got {', '.join(options)})")
        try:
            return self.make(scale, **options)
        except TypeError as exc:  # an unknown option name: one line naming it
            raise ConfigError(f"model '{self.name}': bad option in {dict(options)}: {exc}") from None

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


def create_model(name: str, scale: int, *, tiny: bool = False, options: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the paper preset ``name`` for ``scale``, its tiny test configuration, or a variant with ``options``."""
    entry = get_model_entry(name)
    entry.check_scale(scale)
    if tiny:
        return entry.build_tiny(scale)
    return entry.create(scale, options)


def _ensure_loaded() -> None:
    # Importing the package registers every model file (see sr_lib/models/__init__.py).
    from . import _import_all  # noqa: F401
