"""Evaluation: run a registered model over benchmark sets and measure it with the standard protocol.

The pipeline per image (see :mod:`sr_lib.metrics` for the measuring half):

1. HR is modcropped; LR is the set's MATLAB-made file (or the exact downscale), ``uint8`` — or, with
   ``lr_precision="float"``, the downscale never rounded. For Y-channel models the float protocol degrades the
   ``uint8`` luma of the HR image, as the official MATLAB test scripts of SRCNN and VDSR do
   (``imresize(rgb2ycbcr(im)(:,:,1), 1/s)`` in double precision);
2. the network input is built as its :class:`~sr_lib.models.registry.InputSpec` says: RGB or the MATLAB luma Y,
   scaled to the model's pixel range, bicubic-upscaled first for pre-upsampling models;
3. the output is quantised to ``uint8`` and measured on Y with a ``scale``-pixel border crop.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import nn

from .color import luma
from .data import BenchmarkPair, LRPrecision, load_benchmark
from .degrade.bicubic import imresize
from .metrics import evaluate_pair, quantize
from .models import create_model, get_model_entry
from .models.registry import ModelEntry
from .provenance import environment, file_hashes


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_input(entry: ModelEntry, lr: np.ndarray, scale: int) -> torch.Tensor:
    """The network input (1, C, H, W) float32 for an LR image (uint8 or float64 in 0..255 units)."""
    spec = entry.input
    precision: Literal["uint8", "float"] = "uint8" if lr.dtype == np.uint8 else "float"
    if spec.color == "y":
        planes = luma(lr, precision)[None]
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
    forward: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """SR image quantised to ``uint8``: (H, W, 3) for RGB models, (H, W) luma for Y models.

    ``forward(fn, x)`` may wrap the network call (self-ensemble, tiling); by default it is ``fn(x)``.
    """
    x = model_input(entry, lr, scale).to(device)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return entry.predict(model, t)

    with torch.inference_mode():
        out = forward(fn, x) if forward else fn(x)
    out = out[0].double().cpu().numpy() * (255.0 / entry.input.pixel_max)
    return quantize(out[0] if entry.input.color == "y" else out.transpose(1, 2, 0))


def official_forward(entry: ModelEntry, scale: int) -> Callable | None:
    """The forward wrapper the official test protocol uses, if the entry declares one (e.g. CSNLN's ``--chop``)."""
    wrapper = entry.extra.get("official_test_forward")
    if wrapper is None:
        return None
    return lambda fn, x: wrapper(fn, x, scale=scale)  # type: ignore[operator]


@dataclass
class SetResult:
    psnr: float
    ssim: float
    images: int
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate_model(
    name: str,
    scale: int,
    datasets: list[str],
    weights: str | Path | None = None,
    data_dir: str | Path | None = None,
    lr_precision: LRPrecision = "uint8",
    device: str | None = None,
    model: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``name`` at ``scale`` on ``datasets``; returns the results dict written by ``sr-lib eval --json``."""
    from .weights import load_weights

    entry = get_model_entry(name)
    entry.check_scale(scale)
    dev = pick_device(device)
    if model is None:
        model = create_model(name, scale)
        if weights is not None:
            load_weights(model, weights)
    model = model.to(dev).eval()
    results: dict[str, Any] = {"model": name, "scale": scale, "datasets": {}}
    data_hashes: dict[str, str] = {}
    start = time.perf_counter()
    for ds in datasets:
        pairs: list[BenchmarkPair] = load_benchmark(ds, scale, data_dir, lr_precision)
        per_image = {}
        for pair in pairs:
            lr = pair.lr
            if lr_precision == "float" and entry.input.color == "y":
                lr = imresize(luma(pair.hr, "uint8"), 1.0 / scale)
            sr = super_resolve(entry, model, lr, scale, dev, forward=official_forward(entry, scale))
            score = evaluate_pair(sr, pair.hr, scale)
            per_image[pair.name] = {"psnr": score.psnr, "ssim": score.ssim}
            data_hashes.update(file_hashes(pair.files))
            if progress:
                progress(f"{ds}/{pair.name}: {score.psnr:.3f} dB")
        psnrs = [v["psnr"] for v in per_image.values()]
        ssims = [v["ssim"] for v in per_image.values()]
        results["datasets"][ds] = asdict(SetResult(float(np.mean(psnrs)), float(np.mean(ssims)), len(pairs), per_image))
    results["provenance"] = {
        **environment(dev),
        "config": {"model": name, "scale": scale, "datasets": datasets, "lr_precision": lr_precision,
                   "weights": str(weights) if weights else None,
                   "weights_sha256": file_hashes([Path(weights)])[str(weights)] if weights else None,
                   "protocol": "Y (MATLAB rgb2ycbcr, uint8), SR quantised to uint8, border crop = scale, "
                               "MATLAB SSIM (11x11 Gaussian, sigma 1.5)"},
        "data_sha256": data_hashes,
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    return results
