"""Loading checkpoints into registered models, safely and strictly.

* MATLAB ``.mat`` files (official SRCNN) are read with SciPy;
* legacy (pre-zip) torch pickles (VDSR reimplementation) go through a restricted unpickler that executes nothing;
* every other checkpoint is read with ``torch.load(weights_only=True)``.

Loading is always ``strict=True``: a missing key, an unexpected key or a wrong shape is one :class:`WeightsError`
line naming the first offenders, never a traceback.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .errors import WeightsError

Tensor = torch.Tensor
_WRAPPER_KEYS = ("state_dict", "model", "params", "params_ema", "net")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read the tensors of a checkpoint file without executing code from it."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix.lower() == ".mat":
        from .models.srcnn import state_dict_from_mat

        return state_dict_from_mat(path)
    if not zipfile.is_zipfile(path):
        return _read_legacy(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for unsafe or corrupt files
        raise WeightsError(f"{path}: not a loadable weights-only checkpoint ({type(exc).__name__})") from None
    return unwrap_state_dict(obj, path)


def _read_legacy(path: Path) -> dict[str, Tensor]:
    """A legacy (pre-zip) torch file, through the restricted unpickler (nothing in it is executed)."""
    from .models.vdsr import VDSR_EPOCH50_SHA256, VDSR_PICKLE_CLASSES, load_vdsr_legacy_pickle
    from .safe_pickle import InertObject, is_legacy_torch_file, load_legacy_torch_file

    with open(path, "rb") as f:
        head = f.read(64)
    if not is_legacy_torch_file(head):
        raise WeightsError(f"{path}: unrecognised weights format (not .mat, not a torch file)")
    obj = load_legacy_torch_file(path, allowed_classes=VDSR_PICKLE_CLASSES, expected_sha256=None)
    net = obj.get("model") if isinstance(obj, dict) else obj
    if isinstance(net, InertObject) and type(net).qualname == "vdsr.Net":
        # pytorch-vdsr's whole-model pickle; the published epoch-50 file is also hash-checked
        from .imageio import sha256_file

        expected = VDSR_EPOCH50_SHA256 if sha256_file(path) == VDSR_EPOCH50_SHA256 else None
        return load_vdsr_legacy_pickle(path, expected_sha256=expected)
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj: object, source: str | Path = "checkpoint") -> dict[str, Tensor]:
    """Find the state dict in common checkpoint wrappers (``{'state_dict': ...}``, ``{'params': ...}``)."""
    while isinstance(obj, Mapping) and not any(isinstance(v, Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{source}: no state dict found in the checkpoint")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, Tensor)}


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


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Read ``path`` safely and load it into ``model`` strictly."""
    return load_into(model, read_state_dict(path), Path(path))
