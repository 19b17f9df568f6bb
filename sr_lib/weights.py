"""Loading checkpoints into registered models, safely and strictly.

:func:`read_checkpoint` is the one reader of weights files; it never executes code from a file:

* MATLAB ``.mat`` files (official SRCNN) are read with SciPy (their variables, as arrays);
* legacy (pre-zip) torch pickles (VDSR reimplementation, DAN's PCA matrices) go through the restricted unpickler of
  :mod:`sr_lib.safe_pickle`, which maps the few allowed classes to inert stand-ins;
* every other checkpoint is read with ``torch.load(weights_only=True)``.

The registry entry's ``checkpoint_filter`` (timm's ``checkpoint_filter_fn``) then turns what was read into our
state dict; by default the checkpoint is our state dict, possibly wrapped or pickled as a whole module.

Loading is always ``strict=True``: a missing key, an unexpected key or a wrong shape is one :class:`WeightsError`
line naming the first offenders, never a traceback.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import torch
from torch import nn

from .errors import WeightsError

if TYPE_CHECKING:
    from .models.registry import ModelEntry

Tensor = torch.Tensor
_WRAPPER_KEYS = ("state_dict", "model", "params", "params_ema", "net")


def read_checkpoint(path: str | Path, allowed_classes: Iterable[str] = ()) -> Any:
    """What a weights file holds, read without executing code from it (see the module docstring).

    ``allowed_classes``: dotted class names a legacy pickle may reference (inert stand-ins; any other is refused).
    A missing, corrupt or unsafe file is one :class:`WeightsError` line.
    """
    from .safe_pickle import is_legacy_torch_file, load_legacy_torch_file

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix.lower() == ".mat":
        from scipy.io import loadmat

        try:
            return loadmat(str(path))
        except Exception as exc:  # scipy raises many types for a corrupt file
            raise WeightsError(f"{path}: not a readable MATLAB .mat file ({type(exc).__name__})") from None
    if zipfile.is_zipfile(path):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for unsafe or corrupt files
            raise WeightsError(f"{path}: not a loadable weights-only checkpoint ({type(exc).__name__})") from None
    with open(path, "rb") as f:
        head = f.read(64)
    if not is_legacy_torch_file(head):
        raise WeightsError(f"{path}: not a loadable weights file (not .mat, not a zip or legacy torch file)")
    return load_legacy_torch_file(path, allowed_classes=allowed_classes, expected_sha256=None)


def unwrap_state_dict(obj: object, source: str | Path = "checkpoint") -> dict[str, Tensor]:
    """Find the state dict in common checkpoint wrappers (``{'state_dict': ...}``, ``{'params': ...}``) or in a whole
    pickled module read by the restricted unpickler (``{'model': <inert module>}``); ``module.`` prefixes dropped."""
    from .safe_pickle import InertObject, inert_module_state_dict

    while isinstance(obj, Mapping):  # a training checkpoint also holds tensors beside its weights (torch_rng)
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], (Mapping, InertObject))), None)
        if inner is None:
            break
        obj = inner
    if isinstance(obj, InertObject):
        obj = inert_module_state_dict(obj)
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{source}: no state dict found in the checkpoint")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, Tensor)}


def convert_checkpoint(checkpoint: Any, checkpoint_filter: Callable[[Any], dict[str, Tensor]] | None,
                       source: str | Path = "checkpoint") -> dict[str, Tensor]:
    """``checkpoint_filter(checkpoint)`` (default: :func:`unwrap_state_dict`); its errors name ``source``."""
    if checkpoint_filter is None:
        return unwrap_state_dict(checkpoint, source)
    try:
        return checkpoint_filter(checkpoint)
    except WeightsError as exc:
        raise WeightsError(f"{source}: {exc}") from None


def entry_of(model: nn.Module) -> ModelEntry | None:
    """The registry entry registered by the module that defines ``type(model)`` (its family), or None."""
    from .models import get_model_entry, list_models

    module = type(model).__module__
    return next((e for e in map(get_model_entry, list_models()) if e.build.__module__ == module), None)


def read_state_dict(path: str | Path, entry: ModelEntry | str | None = None) -> dict[str, Tensor]:
    """Read ``path`` safely and convert it with ``entry``'s ``checkpoint_filter`` (a registry name or entry; None:
    the checkpoint holds our state dict, e.g. a training run's ``last.pt``). A legacy pickle may reference the
    classes that the published pickles of ``entry``'s family reference (``WeightsEntry.pickle_classes``)."""
    from .models import get_model_entry, list_models

    if isinstance(entry, str):
        entry = get_model_entry(entry)
    classes: set[str] = set()
    if entry is not None:  # what the family's published pickles may reference
        family = (e for e in map(get_model_entry, list_models()) if e.family == entry.family)
        classes = {c for e in family for w in e.weights for c in w.pickle_classes}
    return convert_checkpoint(read_checkpoint(path, classes), entry.checkpoint_filter if entry else None, path)


def load_into(model: nn.Module, state_dict: Mapping[str, Tensor], source: str | Path = "checkpoint") -> nn.Module:
    """``model.load_state_dict(state_dict, strict=True)`` with a one-line error on any mismatch."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state_dict]
    unexpected = [k for k in state_dict if k not in ours]
    wrong = [f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}" for k, v in ours.items()
             if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:2])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:2])})")
        if wrong:
            parts.append(f"{len(wrong)} of wrong shape (e.g. {wrong[0]})")
        raise WeightsError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)
    return model


def load_weights(model: nn.Module, path: str | Path, entry: ModelEntry | str | None = None) -> nn.Module:
    """Read ``path`` safely, convert it with the registry entry's ``checkpoint_filter`` and load it strictly.

    ``entry``: the registry name (or entry) ``model`` was built from; default: the entry of ``model``'s family
    (:func:`entry_of`), so ``load_weights(create_model("srcnn", 3), "x3.mat")`` converts the MATLAB file.
    """
    return load_into(model, read_state_dict(path, entry if entry is not None else entry_of(model)), Path(path))
