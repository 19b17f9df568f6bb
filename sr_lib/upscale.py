"""Super-resolving a user's own images with a registered model (``sr-lib upscale``).

Each image keeps what it is: grey stays grey, 16-bit stays 16-bit (computed in float throughout, never reduced to
8 bits), an alpha channel is upscaled on its own with MATLAB bicubic and written back, palette images become
RGB(A), the ICC profile is copied, the EXIF orientation is applied. The network part is
:func:`sr_lib.evaluate.super_resolve`, the function evaluation measures:

* RGB models get the RGB image (a grey image as three equal channels; the output is the mean of the three);
* Y-channel models (SRCNN, VDSR, ...) get the luma of MATLAB ``rgb2ycbcr`` (rounded for 8-bit images, as in the
  evaluation protocol); Cb and Cr are upscaled with MATLAB bicubic and the result is converted back with
  ``ycbcr2rgb`` -- how the SRCNN and VDSR papers show colour results. A grey image is fed as it is (MATLAB's scripts
  skip ``rgb2ycbcr`` for one-channel images).

Every input is decoded and checked, the output names planned and the model loaded and tried on the smallest input
size before the first file is written; each output is written atomically (temporary file, then rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .degrade.bicubic import imresize
from .errors import ConfigError, DataError, SRLibError, WeightsError
from .evaluate import Forward, compose_forward, pick_device, super_resolve
from .imageio import IMAGE_SUFFIXES, NativeImage, read_image_native, write_image_native
from .models import create_model, get_model_entry
from .models.registry import ModelEntry

#: The smallest ``tile``: below it the context around each tile (``tile_overlap``) dominates the work.
MIN_TILE = 16
#: Side of the probe image on which the model is tried before anything is written (smaller if an input is smaller).
PROBE_SIDE = 64
DEFAULT_OUT_DIR = Path("upscaled")


@dataclass(frozen=True)
class UpscaleJob:
    """One input image and the file its upscaled version goes to."""

    source: Path
    target: Path
    height: int
    width: int
    mode: str  # NativeImage.mode of the input: L, LA, RGB, RGBA, with ";16" for 16-bit


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders by their images (suffix in ``IMAGE_SUFFIXES``,
    directly inside the folder, hidden files skipped). Duplicates are dropped; order is kept."""
    if not inputs:
        raise ConfigError("no input images given")
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise DataError(f"no images in {item} (looked for {', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"input not found: {item}")
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def output_path(source: Path, out_dir: str | Path, scale: int, model: str) -> Path:
    """``out_dir/<stem>_x<scale>_<model>.png``."""
    return Path(out_dir) / f"{source.stem}_x{scale}_{model}.png"


def plan_jobs(inputs: Sequence[str | Path], model: str, scale: int, out_dir: str | Path = DEFAULT_OUT_DIR,
              overwrite: bool = False) -> list[UpscaleJob]:
    """Decode every input (a corrupt one raises before anything is written) and plan its output file.

    Refuses (one :class:`DataError` line) an output that would replace an input, two inputs with the same output,
    and an existing output unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"output folder {out_dir} is a file")
    sources = collect_inputs(inputs)
    jobs = []
    for src in sources:
        image = read_image_native(src)
        h, w = image.color.shape[:2]
        jobs.append(UpscaleJob(src, output_path(src, out_dir, scale, model), h, w, image.mode))
    resolved_inputs = {s.resolve(): s for s in sources}
    planned: dict[Path, Path] = {}
    for job in jobs:
        key = job.target.resolve()
        if key in resolved_inputs:
            raise DataError(f"output {job.target} would overwrite the input {resolved_inputs[key]}; "
                            "choose another --out")
        if key in planned:
            raise DataError(f"{planned[key]} and {job.source} would both be written to {job.target}")
        planned[key] = job.source
    existing = [j.target for j in jobs if j.target.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise DataError(f"{existing[0]} exists{more}; pass --overwrite to replace it")
    return jobs


def load_upscaler(model: str, scale: int, weights: str | Path | None = None, weights_dir: str | Path | None = None,
                  device: str | torch.device | None = "auto") -> tuple[ModelEntry, nn.Module, torch.device]:
    """The registry entry and the network at ``scale`` in eval mode on ``device``, with ``weights`` loaded strictly.

    Without ``weights`` the published weights are looked up (``weights_dir`` > ``$SR_WEIGHTS_DIR`` > the cache,
    :func:`sr_lib.hub.resolve_weights`, no download); models without parameters (bicubic) need none.
    """
    from .hub import resolve_weights
    from .weights import load_weights

    entry = get_model_entry(model)
    entry.check_scale(scale)
    dev = pick_device(str(device) if device is not None else None)
    net = create_model(model, scale)
    if weights is None and any(True for _ in net.parameters()):
        try:
            weights = resolve_weights(model, scale, weights_dir)
        except WeightsError as exc:
            raise WeightsError(f"{exc}; or pass --weights FILE") from None
    if weights is not None:
        load_weights(net, weights)
    return entry, net.to(dev).eval(), dev


def _quantize(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round half up and clip to the integer ``dtype`` (MATLAB ``uint8(x)`` / ``uint16(x)`` for x >= 0)."""
    peak = float(np.iinfo(dtype).max)
    return np.floor(np.clip(x, 0.0, peak) + 0.5).astype(dtype)


def upscale_image(image: NativeImage, entry: ModelEntry, net: nn.Module, scale: int,
                  device: torch.device | str = "cpu", forward: Forward | None = None) -> NativeImage:
    """Super-resolve ``image`` by ``scale``: same layout and bit depth, (scale*H, scale*W).

    8-bit images go to :func:`~sr_lib.evaluate.super_resolve` as they are (the evaluation protocol's input);
    16-bit ones as float in 0..255 units. Alpha: MATLAB bicubic. ``forward`` wraps the network call
    (:func:`~sr_lib.evaluate.compose_forward`: self-ensemble, tiling).
    """
    dtype = image.color.dtype
    peak = float(np.iinfo(dtype).max)
    lr = image.color if dtype == np.uint8 else image.color.astype(np.float64) * (255.0 / peak)
    if entry.input.color == "y" and not image.is_grey:
        y = super_resolve(entry, net, lr, scale, device, forward, quantize_output=False)
        chroma = imresize(rgb_to_ycbcr(lr)[..., 1:], float(scale))
        sr = ycbcr_to_rgb(np.concatenate([y[..., None], chroma], axis=2))
    else:
        sr = super_resolve(entry, net, lr, scale, device, forward, quantize_output=False)
        if image.is_grey and sr.ndim == 3:
            sr = sr.mean(axis=2)
    color = _quantize(sr * (peak / 255.0), dtype)
    alpha = None
    if image.alpha is not None:
        alpha = _quantize(imresize(image.alpha.astype(np.float64), float(scale)), dtype)
    return NativeImage(color, alpha, image.icc_profile)


def check_smallest_input(jobs: Sequence[UpscaleJob], entry: ModelEntry, net: nn.Module, scale: int,
                         device: torch.device | str = "cpu", forward: Forward | None = None) -> None:
    """Run the model once on a blank image as small as the smallest input (at most ``PROBE_SIDE``), so that an
    input too small for the model fails before any file is written."""
    h = min(min(j.height for j in jobs), PROBE_SIDE)
    w = min(min(j.width for j in jobs), PROBE_SIDE)
    try:
        super_resolve(entry, net, np.zeros((h, w, 3), np.uint8), scale, device, forward, quantize_output=False)
    except (SRLibError, RuntimeError) as exc:
        smallest = min(jobs, key=lambda j: (min(j.height, j.width), j.height * j.width))
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{smallest.source} ({smallest.width}x{smallest.height}) is too small for {entry.name} "
                        f"x{scale}: {reason}") from None


def _out_of_memory(exc: RuntimeError) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc)


def upscale_files(
    inputs: Sequence[str | Path],
    model: str,
    scale: int,
    *,
    weights: str | Path | None = None,
    weights_dir: str | Path | None = None,
    out_dir: str | Path = DEFAULT_OUT_DIR,
    self_ensemble: bool = False,
    tile: int | None = None,
    tile_overlap: int = 16,
    device: str | None = "auto",
    overwrite: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Upscale every image of ``inputs`` (files or folders) with ``model`` at ``scale`` into ``out_dir``.

    Returns the written paths (``<stem>_x<scale>_<model>.png``). ``self_ensemble``: x8 geometric self-ensemble
    (EDSR paper Sec. 4.3). ``tile``: run the network on tiles of that many input pixels with ``tile_overlap``
    pixels of context (bounded memory; equal to whole-image inference for ``tile_safe`` models when the overlap
    covers the receptive field). ``progress``: a tqdm bar on stderr (shown on terminals only). ``log``: notes.
    All checks (inputs, output names, weights, the model on the smallest input size) come before the first write.
    """
    from tqdm.auto import tqdm

    entry = get_model_entry(model)
    entry.check_scale(scale)
    if tile is not None and tile < MIN_TILE:
        raise ConfigError(f"--tile {tile} is too small: use at least {MIN_TILE} pixels per tile")
    if tile_overlap < 0:
        raise ConfigError(f"--tile-overlap must be >= 0, got {tile_overlap}")
    if tile is not None and not entry.tile_safe and log:
        log(f"{model} is not tile-safe (whole-image operations): tiled output differs from whole-image output")
    entry, net, dev = load_upscaler(model, scale, weights, weights_dir, device)
    jobs = plan_jobs(inputs, model, scale, out_dir, overwrite)
    forward = compose_forward(entry, scale, self_ensemble, tile, tile_overlap)
    check_smallest_input(jobs, entry, net, scale, dev, forward)
    written: list[Path] = []
    for job in tqdm(jobs, desc=f"{model} x{scale}", unit="image", disable=None if progress else True):
        try:
            result = upscale_image(read_image_native(job.source), entry, net, scale, dev, forward)
        except RuntimeError as exc:
            if not _out_of_memory(exc):
                raise
            hint = f"a smaller --tile than {tile}" if tile else "--tile 256"
            raise ConfigError(f"out of memory on {job.source} ({job.width}x{job.height}); try {hint} "
                              f"({len(written)} of {len(jobs)} outputs written)") from None
        try:
            write_image_native(job.target, result)
        except OSError as exc:
            raise DataError(f"cannot write {job.target}: {exc.strerror or exc}") from None
        written.append(job.target)
    return written
