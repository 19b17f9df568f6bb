"""Ports of official implementations: how to build our model from the official constructor arguments.

``$SR_GOLDEN_DIR/<golden_dir>/`` holds, per model, outputs of the official class (``golden_*.pt``) and the
full-configuration state-dict manifests (``manifest_*.json``). An :class:`OfficialPort` tells the tests how to
build our module from the official ``constructor_args``, how to run it so that its outputs carry the golden
file's key names, and how to map state-dict keys between the two (identity when the official names are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

Tensor = torch.Tensor
StateDict = Mapping[str, Tensor]


def _identity_keys(state_dict: StateDict) -> dict[str, Tensor]:
    return dict(state_dict)


def _single_output(model: nn.Module, x: Tensor) -> dict[str, Any]:
    return {"output": model(x)}


@dataclass(frozen=True)
class OfficialPort:
    """How our implementation stands in for one official class.

    golden_dir: the directory under ``$SR_GOLDEN_DIR`` (e.g. ``"rcan"``).
    source: ``repo@commit:file:Class`` of the official code.
    build: official ``constructor_args`` (a dict, as stored in the golden/manifest files) -> our module.
    run: ``(module, input) -> {golden key: value}`` (``"output"`` plus model-specific extras).
    from_official: official state dict -> ours (identity when names are kept; a converter asserts both key sets).
    to_official: ours -> official state dict.
    """

    golden_dir: str
    source: str
    build: Callable[[Mapping[str, Any]], nn.Module]
    run: Callable[[nn.Module, Tensor], dict[str, Any]] = _single_output
    from_official: Callable[[StateDict], dict[str, Tensor]] = _identity_keys
    to_official: Callable[[StateDict], dict[str, Tensor]] = _identity_keys


_PORTS: dict[str, OfficialPort] = {}


def register_port(port: OfficialPort) -> OfficialPort:
    if port.golden_dir in _PORTS:
        raise ValueError(f"official port registered twice: {port.golden_dir}")
    _PORTS[port.golden_dir] = port
    return port


def get_port(golden_dir: str) -> OfficialPort:
    from . import _import_all  # noqa: F401  (registers every model file)

    return _PORTS[golden_dir]


def all_ports() -> dict[str, OfficialPort]:
    from . import _import_all  # noqa: F401

    return dict(_PORTS)


def check_official_args(args: Mapping[str, Any], allowed: set[str] | frozenset[str], model: str) -> dict[str, Any]:
    """The official constructor arguments as a dict; an argument our port does not know is a one-line error
    (a typo or a newer official option must not be silently ignored)."""
    from ..errors import ConfigError

    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ConfigError(f"{model}: unknown official constructor argument(s) {unknown}")
    return dict(args)


def single_scale(args: Mapping[str, Any], model: str) -> int:
    """``args.scale`` of the EDSR code base is a list; single-scale models take its only element (and RGB)."""
    from ..errors import ConfigError

    scale = args.get("scale", [4])
    scales = list(scale) if isinstance(scale, (list, tuple)) else [scale]
    if len(scales) != 1:
        raise ConfigError(f"{model} builds one scale per model, got scale={scales}")
    if int(args.get("n_colors", 3)) != 3:
        raise ConfigError(f"{model}: only n_colors=3 is supported (MeanShift is RGB)")
    return int(scales[0])
