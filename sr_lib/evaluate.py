"""Evaluation: run a registered model over benchmark sets and measure it with a named protocol.

Three published pipelines differ only in *where values are rounded*, and that moves a set's mean PSNR by thousandths
to tenths of a dB (:func:`sr_lib.results.protocol_gaps` measures each gap in the committed results files). They are
explicit, named :class:`Protocol`\\ s:

``standard`` (default)
    The EDSR/RCAN MATLAB scripts: LR = the set's MATLAB-made ``uint8`` file (or the bit-identical downscale),
    SR saved as ``uint8``, Y of MATLAB ``rgb2ycbcr`` on ``uint8`` images (rounded).
``matlab-y``
    The SRCNN/VDSR MATLAB test scripts, which made the bicubic rows of every later table: the HR image (for
    Y-channel models its rounded ``uint8`` luma) is downscaled in double precision and the LR is never rounded;
    SR quantised to ``uint8``; Y rounded.
``float``
    Python reimplementations such as pytorch-vdsr's ``eval.py``: HR luma in float, LR never rounded, the SR
    output only clipped to [0, 255], never quantised.

Every protocol then crops ``scale`` border pixels and computes PSNR and MATLAB SSIM (:mod:`sr_lib.metrics`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .color import Precision, luma
from .data import BenchmarkPair, load_benchmark
from .degrade.bicubic import imresize
from .errors import ConfigError
from .metrics import evaluate_pair, load_niqe_model, niqe as niqe_score, quantize
from .models import create_model, get_model_entry
from .models.registry import ModelEntry
from .provenance import environment, file_hashes, sha256_file, weights_key

Forward = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Protocol:
    """Where the evaluation pipeline rounds (see the module docstring)."""

    name: str
    lr_precision: Precision  # "uint8": LR rounded (the files); "float": never rounded
    y_precision: Precision  # rounding of MATLAB rgb2ycbcr for the measured luma (and a Y model's input)
    quantize_sr: bool  # SR rounded to uint8 before it is measured
    description: str


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("standard", "uint8", "uint8", True,
                 "MATLAB LR files (uint8), SR as uint8, Y of rgb2ycbcr on uint8 (EDSR/RCAN scripts)"),
        Protocol("matlab-y", "float", "uint8", True,
                 "HR (its uint8 luma for Y models) downscaled in double, LR never rounded, SR as uint8 "
                 "(SRCNN/VDSR MATLAB scripts; the bicubic rows)"),
        Protocol("float", "float", "float", False,
                 "nothing rounded: float luma, float LR, SR only clipped (pytorch-vdsr eval.py)"),
    )
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol '{name}'; known: {', '.join(PROTOCOLS)}") from None


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' requested but CUDA is not available")
    return torch.device(device)  # type: ignore[arg-type]


def model_input(entry: ModelEntry, lr: np.ndarray, scale: int, y_precision: Precision = "uint8") -> torch.Tensor:
    """The network input (1, C, H, W) float32 for an LR image in 0..255 units.

    ``lr`` is RGB (H, W, 3), grey (H, W) or, for Y models, already the luma plane (H, W). Y models get the
    MATLAB luma (rounded as ``y_precision`` says when ``lr`` is ``uint8``); pre-upsampling models get the
    MATLAB bicubic upscale, in float.
    """
    spec = entry.input
    if spec.color == "y":
        planes = luma(lr, y_precision if lr.dtype == np.uint8 else "float")[None]
    else:
        rgb = np.repeat(lr[..., None], 3, axis=2) if lr.ndim == 2 else lr
        planes = rgb.transpose(2, 0, 1).astype(np.float64)
    x = torch.from_numpy(np.ascontiguousarray(planes))[None] * (spec.pixel_max / 255.0)
    if spec.pre_upsample:
        x = imresize(x, float(scale))
    return x.float()


def super_resolve(
    entry: ModelEntry,
    model: nn.Module,
    lr: np.ndarray,
    scale: int,
    device: torch.device | str = "cpu",
    forward: Forward | None = None,
    quantize_output: bool = True,
    y_precision: Precision = "uint8",
) -> np.ndarray:
    """SR image in 0..255 units: (H, W, 3) for RGB models, (H, W) luma for Y models.

    ``uint8`` when ``quantize_output`` (the standard), else float64 clipped to [0, 255].
    ``forward(fn, x)`` may wrap the network call (self-ensemble, tiling, official chopping); default ``fn(x)``.
    """
    x = model_input(entry, lr, scale, y_precision).to(device)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return entry.predict(model, t)

    with torch.inference_mode():
        out = forward(fn, x) if forward else fn(x)
    out = out[0].double().cpu().numpy() * (255.0 / entry.input.pixel_max)
    out = out[0] if entry.input.color == "y" else out.transpose(1, 2, 0)
    return quantize(out) if quantize_output else np.clip(out, 0.0, 255.0)


def official_forward(entry: ModelEntry, scale: int) -> Forward | None:
    """The forward wrapper the official test protocol uses, if the entry declares one (e.g. CSNLN's ``--chop``)."""
    wrapper = entry.extra.get("official_test_forward")
    if wrapper is None:
        return None
    return lambda fn, x: wrapper(fn, x, scale=scale)  # type: ignore[operator]


def compose_forward(entry: ModelEntry, scale: int, self_ensemble: bool = False, tile: int | None = None,
                    tile_overlap: int = 16) -> Forward | None:
    """The forward wrapper for an evaluation: the official test forward (if any) or tiling, then the x8
    self-ensemble around it (EDSR paper, "+" models)."""
    from . import inference

    inner = official_forward(entry, scale)
    if tile is not None:
        net_scale = 1 if entry.input.pre_upsample else scale
        inner = lambda fn, x: inference.tiled_forward(fn, x, net_scale, tile, tile_overlap)  # noqa: E731
    if not self_ensemble:
        return inner
    base = inner
    return lambda fn, x: inference.self_ensemble((lambda t: base(fn, t)) if base else fn, x)


def protocol_lr(entry: ModelEntry, pair: BenchmarkPair, scale: int, protocol: Protocol) -> np.ndarray:
    """The LR image the protocol feeds: the pair's LR, or for Y models under a float-LR protocol the
    never-rounded downscale of the HR luma (as the official MATLAB/Python Y-channel scripts compute it)."""
    if protocol.lr_precision == "float" and entry.input.color == "y":
        return imresize(luma(pair.hr, protocol.y_precision), 1.0 / scale)
    return pair.lr


@dataclass
class SetResult:
    psnr: float
    ssim: float
    images: int
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    niqe: float | None = None  # mean NIQE of the SR images (``niqe=True``; chapter 8), lower is more natural


def evaluate_model(
    name: str,
    scale: int,
    datasets: list[str],
    weights: str | Path | None = None,
    data_dir: str | Path | None = None,
    protocol: str = "standard",
    device: str | None = None,
    model: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
    self_ensemble: bool = False,
    tile: int | None = None,
    tile_overlap: int = 16,
    niqe: bool = False,
) -> dict[str, Any]:
    """Evaluate ``name`` at ``scale`` on ``datasets``; returns the results dict written by ``sr-lib eval --json``.

    ``self_ensemble`` averages the 8 flips/rotations (the "+" rows of EDSR/RCAN tables); ``tile`` runs the network
    on LR tiles of that size with ``tile_overlap`` pixels of context (bounded memory; equal to the whole-image output
    only for models whose registry entry is ``tile_safe``). ``niqe`` adds the NIQE of every quantised RGB SR image
    (:func:`sr_lib.metrics.niqe`, ``scale`` border pixels cropped; RGB models only), the perception axis of chapter 8.
    """
    from .weights import load_weights

    entry = get_model_entry(name)
    entry.check_scale(scale)
    proto = get_protocol(protocol)
    if not datasets:
        raise ConfigError("no data set given")
    if niqe and entry.input.color != "rgb":
        raise ConfigError(f"NIQE is measured on RGB outputs; {name} predicts only the Y channel")
    niqe_model = load_niqe_model(download=True) if niqe else None
    dev = pick_device(device)
    if model is None:
        model = create_model(name, scale)
        if weights is not None:
            load_weights(model, weights)
    model = model.to(dev).eval()
    forward = compose_forward(entry, scale, self_ensemble, tile, tile_overlap)
    results: dict[str, Any] = {"model": name, "scale": scale, "datasets": {}}
    data_hashes: dict[str, str] = {}
    start = time.perf_counter()
    for ds in datasets:
        pairs = load_benchmark(ds, scale, data_dir, proto.lr_precision)
        per_image = {}
        for pair in pairs:
            sr = super_resolve(entry, model, protocol_lr(entry, pair, scale, proto), scale, dev,
                               forward=forward, quantize_output=proto.quantize_sr,
                               y_precision=proto.y_precision)
            score = evaluate_pair(sr, pair.hr, scale, y_precision=proto.y_precision, quantize_sr=proto.quantize_sr)
            per_image[pair.name] = {"psnr": score.psnr, "ssim": score.ssim}
            if niqe_model is not None:
                sr_uint8 = sr if sr.dtype == np.uint8 else quantize(sr)
                per_image[pair.name]["niqe"] = niqe_score(sr_uint8, crop_border=scale, model=niqe_model)
            data_hashes.update(file_hashes(pair.files))
            if progress:
                progress(f"{ds}/{pair.name}: {score.psnr:.3f} dB")
        psnrs = [v["psnr"] for v in per_image.values()]
        ssims = [v["ssim"] for v in per_image.values()]
        mean_niqe = float(np.mean([v["niqe"] for v in per_image.values()])) if niqe_model is not None else None
        set_result = asdict(SetResult(float(np.mean(psnrs)), float(np.mean(ssims)), len(pairs), per_image, mean_niqe))
        results["datasets"][ds] = {k: v for k, v in set_result.items() if k != "niqe" or niqe}
    results["provenance"] = {
        **environment(dev),
        "config": {"model": name, "scale": scale, "datasets": datasets, "protocol": asdict(proto),
                   "self_ensemble": self_ensemble, "tile": tile, "tile_overlap": tile_overlap if tile else None,
                   "tile_safe": entry.tile_safe,
                   "weights": str(weights) if weights else None,
                   "weights_key": weights_key(weights) if weights else None,
                   "weights_sha256": file_hashes([Path(weights)])[str(weights)] if weights else None},
        "data_sha256": data_hashes,
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    if niqe_model is not None:
        results["provenance"]["config"]["niqe_model_sha256"] = sha256_file(niqe_model.path)
    return results
