"""Blind super-resolution measurements of DAN on the Gaussian8 benchmark (chapter 9 explains them).

DANv1: Luo, Huang, Li, Wang, Tan, "Unfolding the Alternating Optimization for Blind Super Resolution", NeurIPS 2020
(arXiv 2010.02631); DANv2: arXiv 2105.06878. Networks: :mod:`sr_lib.models.dan` (which also recalls the equations).

* **Gaussian8** (the Setting-1 test of IKC and DAN; the paper's ranges are quoted in ``papers/dan.md``): every HR
  image of a set blurred by each of eight isotropic 21 x 21 Gaussians and bicubic-downscaled, Eq. 1
  ``y = (x (*) k) downarrow_s`` without noise.
  :func:`gaussian8_pairs` makes the LR images in memory exactly as ``sr-lib downscale --kernel gaussian8`` writes
  them (:func:`sr_lib.degrade.kernels.blur_downscale_uint8` with MATLAB's bicubic; the official generator's
  python bicubic mirrors the border and differs in the outer 1-3 LR pixels).
* :func:`evaluate_gaussian8` measures a super-resolver in one of three :data:`MODES`:
  ``"blind"`` — a DAN as trained, the SR of its last unrolled step (Eq. 5-6, Fig. 2);
  ``"oracle"`` — the same DAN's Restorer given the PCA code of the *true* kernel, ``x = R(y, k_true)``: the
  non-blind upper bound of the alternation (the Restorer sees only ``y`` and the code, so every step gives the same
  image and one call suffices); ``"plain"`` — a non-blind network of the registry (e.g. trained on bicubic LR).
  Protocol: the ``standard`` one of :mod:`sr_lib.evaluate` (uint8 SR, Y channel, ``scale`` border pixels cropped).
* :func:`kernel_code_sensitivity` — the Restorer given the codes of other widths than the true one: does its
  output depend on the code at all?
* :func:`psnr_by_iteration` — PSNR after each unrolled step 1..n, optionally past the trained ``loop``;
  :func:`kernel_trajectory` — the kernel estimated after each step, as a k x k kernel;
  :func:`kernel_code_errors` — how far an estimate is from the true kernel and from the true kernel's own code.

Kernel codes (v1's Estimator output, the Restorer input of both versions) are ``code = kernel @ M`` with the PCA
matrix ``M`` (k*k x L, the ``encoder`` buffer). :func:`decode_kernel_code` inverts this with the pseudo-inverse,
``kernel = code @ pinv(M)``, the least-squares kernel of that code; the published Setting-1 matrix has orthonormal
columns (``M^T M = I`` to float32 precision), so this is ``code @ M^T``, the projection of the kernel onto the
10-d PCA subspace. That subspace is orthogonal to the constant kernel, so a code carries no mean: a decoded kernel
sums to 0, and the missing mean dominates its difference to the true Gaussian8 kernel (L1 distance 1). Adding the
constant back (:func:`with_unit_sum`) leaves a fixed pattern of L1 about 0.17, the same for every width: the matrix
was apparently fitted to kernels minus a mean kernel, which is not published with it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import numpy as np
import torch
from torch import nn

from .data import load_benchmark
from .degrade.kernels import GAUSSIAN8_KERNEL_SIZE, blur_downscale_uint8, gaussian8_kernels, isotropic_gaussian_kernel
from .errors import ConfigError
from .evaluate import Forward, get_protocol, model_input, pick_device, super_resolve
from .metrics import Score, evaluate_pair
from .models import create_model, get_model_entry
from .models.dan import DANv1, DANv2
from .models.registry import ModelEntry
from .provenance import environment, file_hashes, weights_key

Tensor = torch.Tensor
Mode = Literal["blind", "oracle", "plain"]
#: The three ways :func:`evaluate_gaussian8` runs a super-resolver (module docstring).
MODES: tuple[str, ...] = ("blind", "oracle", "plain")
#: The bicubic of the Gaussian8 LR images: the one ``sr-lib downscale --kernel gaussian8`` uses.
GAUSSIAN8_RESIZE: Literal["matlab"] = "matlab"
_PROTOCOL = "standard"


@dataclass(frozen=True)
class Gaussian8Pair:
    """One (HR image, Gaussian8 kernel) pair: ``lr = blur_downscale_uint8(hr, kernel, scale)``."""

    name: str  # the image's file stem
    sigma: float  # the kernel's width (standard deviation, pixels)
    kernel: np.ndarray  # float64 (21, 21), sums to 1
    hr: np.ndarray  # uint8, modcropped to a multiple of the scale
    lr: np.ndarray  # uint8
    hr_files: tuple[Path, ...]  # the HR file read (empty for the embedded Demo set)


def sigma_key(sigma: float) -> str:
    """The key of a kernel width in results dicts (``"0.80"``)."""
    return f"{sigma:.2f}"


def gaussian8_pairs(dataset: str, scale: int, data_dir: str | Path | None = None) -> list[Gaussian8Pair]:
    """The 8 x N Gaussian8 pairs of ``dataset`` at ``scale`` (2, 3, 4), image by image, sigma ascending."""
    kernels = gaussian8_kernels(scale)  # ConfigError for a scale without Gaussian8 ranges, before any reading
    out = []
    for pair in load_benchmark(dataset, scale, data_dir):
        hr_files = tuple(p for p in pair.files if p.parent.name == "HR")  # not the set's bicubic LR file
        for sigma, kernel in kernels:
            lr = blur_downscale_uint8(pair.hr, kernel, scale, resize=GAUSSIAN8_RESIZE)
            out.append(Gaussian8Pair(pair.name, sigma, kernel, pair.hr, lr, hr_files))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Checks shared by every entry point
# ----------------------------------------------------------------------------------------------------------------


def _dan_entry(model: nn.Module) -> ModelEntry:
    """The registry entry of a DAN model; ConfigError for anything else."""
    if isinstance(model, DANv1):
        return get_model_entry("dan-v1")
    if isinstance(model, DANv2):
        return get_model_entry("dan-v2")
    raise ConfigError(f"expected a DAN model (DANv1 or DANv2), got {type(model).__name__}")


def _checked_dan(model: nn.Module, scale: int | None = None) -> DANv1 | DANv2:
    """``model`` itself once it is a DAN of ``scale`` with a filled PCA matrix; ConfigError otherwise."""
    if not isinstance(model, (DANv1, DANv2)):
        raise ConfigError(f"expected a DAN model (DANv1 or DANv2), got {type(model).__name__}")
    if scale is not None and model.scale != scale:
        raise ConfigError(f"the DAN model upscales x{model.scale}, not x{scale}")
    if not model.pca_matrix_loaded:
        raise ConfigError("the DAN model's PCA matrix is still the zero placeholder: load trained weights "
                          "(they carry it) or fill it (sr_lib.models.dan.load_setting1_pca)")
    return model


def _check_mode_name(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"unknown mode '{mode}'; known: {', '.join(MODES)}")


def _check_mode(model: nn.Module, name: str, scale: int, mode: str) -> ModelEntry:
    """The registry entry of ``name`` after checking that ``model`` fits ``mode`` and ``scale``."""
    _check_mode_name(mode)
    entry = get_model_entry(name)
    entry.check_scale(scale)
    is_dan = isinstance(model, (DANv1, DANv2))
    if mode == "plain":
        if is_dan:
            raise ConfigError("mode 'plain' is for non-blind networks; run a DAN with mode 'blind' or 'oracle'")
        return entry
    net = _checked_dan(model, scale)
    if _dan_entry(net).name != entry.name:
        raise ConfigError(f"model '{name}' is not the {type(net).__name__} given (registry '{_dan_entry(net).name}')")
    if net.ksize != GAUSSIAN8_KERNEL_SIZE and mode == "oracle":
        raise ConfigError(f"oracle mode needs {GAUSSIAN8_KERNEL_SIZE}x{GAUSSIAN8_KERNEL_SIZE} kernel codes "
                          f"(Gaussian8); the model encodes {net.ksize}x{net.ksize}")
    return entry


# ----------------------------------------------------------------------------------------------------------------
# Super-resolving one LR image
# ----------------------------------------------------------------------------------------------------------------


def true_kernel_code(model: nn.Module, kernel: np.ndarray | Tensor) -> Tensor:
    """PCA code ``(1, L)`` of a true ``(k, k)`` kernel as the model's Restorer takes it (``kernel @ encoder``)."""
    net = _checked_dan(model)
    k = torch.as_tensor(kernel).to(dtype=net.encoder.dtype, device=net.encoder.device)
    if tuple(k.shape) != (net.ksize, net.ksize):
        raise ConfigError(f"kernel must be ({net.ksize}, {net.ksize}) for this model, got {tuple(k.shape)}")
    return net.encode_kernel(k[None])


def _oracle_forward(net: DANv1 | DANv2, kernel: np.ndarray) -> Forward:
    code = true_kernel_code(net, kernel)
    return lambda fn, x: net.Restorer(x, code)  # the registry predict (the blind loop) is bypassed on purpose


def super_resolve_mode(
    model: nn.Module,
    name: str,
    lr: np.ndarray,
    scale: int,
    mode: Mode,
    kernel: np.ndarray | None = None,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """uint8 SR image of ``lr`` (uint8, RGB or grey) in ``mode``; ``kernel`` (the true one) only for ``"oracle"``.

    Every mode goes through :func:`sr_lib.evaluate.super_resolve` (RGB in [0, 1] for DAN, uint8 output, no grad);
    oracle mode swaps the network call for ``Restorer(lr, true_kernel_code(kernel))``.
    """
    entry = _check_mode(model, name, scale, mode)
    if (kernel is None) != (mode != "oracle"):
        raise ConfigError("the true kernel is given in oracle mode, and only there")
    forward = _oracle_forward(model, kernel) if mode == "oracle" else None  # type: ignore[arg-type]
    return super_resolve(entry, model, lr, scale, device, forward=forward)


@contextlib.contextmanager
def _unrolled(net: DANv1 | DANv2, loops: int | None) -> Iterator[None]:
    """Run ``net`` with ``loops`` unrolled steps (None: as trained); its ``loop`` is restored afterwards."""
    if loops is not None and (not isinstance(loops, int) or isinstance(loops, bool) or loops < 1):
        raise ConfigError(f"loops must be a positive integer, got {loops!r}")
    trained = net.loop
    net.loop = loops or trained
    try:
        yield
    finally:
        net.loop = trained


def _step_images(net: DANv1 | DANv2, lr: np.ndarray, loops: int | None, device: torch.device | str) -> list[np.ndarray]:
    """uint8 SR of every unrolled step (1..loops, default the trained ``loop``), one forward pass of the model.

    Each step's tensor is converted by :func:`super_resolve`, as the blind evaluation converts the last one.
    """
    entry = _dan_entry(net)
    outputs: list[Tensor] = []

    def run_all(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        outputs.extend(net(x).srs)
        return outputs[0]

    with _unrolled(net, loops):
        images = [super_resolve(entry, net, lr, net.scale, device, forward=run_all)]
    for t in outputs[1:]:
        images.append(super_resolve(entry, net, lr, net.scale, device, forward=lambda fn, x, t=t: t))
    return images


# ----------------------------------------------------------------------------------------------------------------
# Evaluation over Gaussian8
# ----------------------------------------------------------------------------------------------------------------


def _mean_scores(values: Sequence[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([v[k] for v in values])) for k in ("psnr", "ssim")}


def _score_pair(model: nn.Module, name: str, pair: Gaussian8Pair, scale: int, mode: Mode, kernel: np.ndarray | None,
                device: torch.device | str, compute_ssim: bool = True) -> Score:
    """Score (standard protocol) of ``model``'s SR of ``pair.lr`` in ``mode`` (``kernel``: the oracle's kernel)."""
    sr = super_resolve_mode(model, name, pair.lr, scale, mode, kernel, device)
    if sr.shape[:2] != pair.hr.shape[:2]:
        raise ConfigError(f"{name} gave {sr.shape[1]}x{sr.shape[0]} for a {pair.lr.shape[1]}x"
                          f"{pair.lr.shape[0]} LR image: it does not upscale x{scale}")
    return evaluate_pair(sr, pair.hr, scale, compute_ssim=compute_ssim)


def evaluate_gaussian8(
    name: str,
    scale: int,
    datasets: Sequence[str],
    mode: Mode,
    weights: str | Path | None = None,
    data_dir: str | Path | None = None,
    device: str | None = None,
    model: nn.Module | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """PSNR/SSIM of ``name`` on the Gaussian8 pairs of ``datasets`` (Setting 1) in ``mode``.

    The model is ``model`` or the registry preset with ``weights`` loaded, as in
    :func:`sr_lib.evaluate.evaluate_model`. Per set: ``psnr``/``ssim`` (mean over all pairs), ``images``,
    ``pairs``, ``per_sigma`` (``sigma_key -> {psnr, ssim}``, mean over images) and ``per_image``
    (``image -> sigma_key -> {psnr, ssim}``). ``provenance``: environment, config, sha256 of the HR files, time.
    """
    from .weights import load_weights

    _check_mode_name(mode)
    if not datasets:
        raise ConfigError("no data set given")
    sigmas = [s for s, _ in gaussian8_kernels(scale)]
    dev = pick_device(device)
    if model is None:
        get_model_entry(name).check_scale(scale)
        model = create_model(name, scale)
        if weights is not None:
            load_weights(model, weights)
    _check_mode(model, name, scale, mode)
    model = model.to(dev).eval()
    results: dict[str, Any] = {"model": name, "scale": scale, "mode": mode, "benchmark": "Gaussian8",
                               "sigmas": sigmas, "datasets": {}}
    data_hashes: dict[str, str] = {}
    start = time.perf_counter()
    for ds in datasets:
        pairs = gaussian8_pairs(ds, scale, data_dir)
        per_image: dict[str, dict[str, dict[str, float]]] = {}
        for pair in pairs:
            score = _score_pair(model, name, pair, scale, mode, pair.kernel if mode == "oracle" else None, dev)
            per_image.setdefault(pair.name, {})[sigma_key(pair.sigma)] = {"psnr": score.psnr, "ssim": score.ssim}
            data_hashes.update(file_hashes(pair.hr_files))
            if progress:
                progress(f"{ds}/{pair.name} sigma {pair.sigma:.2f}: {score.psnr:.3f} dB")
        all_scores = [v for by_sigma in per_image.values() for v in by_sigma.values()]
        per_sigma = {sigma_key(s): _mean_scores([by_sigma[sigma_key(s)] for by_sigma in per_image.values()])
                     for s in sigmas}
        results["datasets"][ds] = {**_mean_scores(all_scores), "images": len(per_image), "pairs": len(pairs),
                                   "per_sigma": per_sigma, "per_image": per_image}
    results["provenance"] = {
        **environment(dev),
        "config": {"model": name, "scale": scale, "datasets": list(datasets), "mode": mode,
                   "protocol": asdict(get_protocol(_PROTOCOL)),
                   "degradation": {"kernels": "gaussian8", "sigmas": sigmas, "kernel_size": GAUSSIAN8_KERNEL_SIZE,
                                   "resize": GAUSSIAN8_RESIZE,
                                   "function": "sr_lib.degrade.kernels.blur_downscale_uint8"},
                   "weights": str(weights) if weights else None,
                   "weights_key": weights_key(weights) if weights else None,
                   "weights_sha256": file_hashes([Path(weights)])[str(weights)] if weights else None},
        "data_sha256": data_hashes,
        "wall_time_s": round(time.perf_counter() - start, 3),
    }
    return results


def kernel_code_sensitivity(
    model: nn.Module,
    pairs: Sequence[Gaussian8Pair],
    given_sigmas: Sequence[float],
    device: str | None = None,
) -> dict[str, Any]:
    """PSNR of a DAN's Restorer given the code of a *chosen* kernel, whatever kernel blurred the LR image.

    DAN's Restorer is conditioned on the kernel code (paper Sec. 3: ``x = R(y, k)``; in v1 the code is broadcast to
    every pixel and concatenated with the features of each conditional residual block). Each pair (blurred by its
    true kernel) is super-resolved as the oracle does (:func:`super_resolve_mode`, mode ``"oracle"``) but with the
    isotropic 21 x 21 Gaussian of each width in ``given_sigmas`` (the Gaussian8 kernel itself for a Gaussian8
    width), and blind for comparison; PSNR on Y with the protocol of :func:`evaluate_gaussian8`. A Restorer that
    uses the code scores best where the given width is the true one; one that ignores it gives flat rows.

    Returns ``given_sigmas``, ``images``, ``pairs``, ``psnr`` (``true sigma_key -> given sigma_key -> PSNR``) and
    ``blind`` (``true sigma_key -> PSNR``), means over the images of that true width (plain floats, JSON-ready).
    """
    net = _checked_dan(model)
    if not pairs:
        raise ConfigError("no Gaussian8 pair given")
    kernels = [isotropic_gaussian_kernel(GAUSSIAN8_KERNEL_SIZE, s) for s in given_sigmas]  # ConfigError: bad width
    given = {sigma_key(s): k for s, k in zip(given_sigmas, kernels)}
    if not given or len(given) != len(kernels):
        raise ConfigError(f"given_sigmas must be one or more distinct kernel widths, got {list(given_sigmas)}")
    name, dev = _dan_entry(net).name, pick_device(device)
    net = net.to(dev).eval()
    psnr: dict[str, dict[str, list[float]]] = {}
    blind: dict[str, list[float]] = {}
    for pair in pairs:
        row = psnr.setdefault(sigma_key(pair.sigma), {g: [] for g in given})
        for g, kernel in given.items():
            row[g].append(_score_pair(net, name, pair, net.scale, "oracle", kernel, dev, compute_ssim=False).psnr)
        blind.setdefault(sigma_key(pair.sigma), []).append(
            _score_pair(net, name, pair, net.scale, "blind", None, dev, compute_ssim=False).psnr)
    return {"given_sigmas": [float(s) for s in given_sigmas], "images": len({p.name for p in pairs}),
            "pairs": len(pairs),
            "psnr": {t: {g: float(np.mean(v)) for g, v in row.items()} for t, row in psnr.items()},
            "blind": {t: float(np.mean(v)) for t, v in blind.items()}}


# ----------------------------------------------------------------------------------------------------------------
# Inside the unrolled alternation
# ----------------------------------------------------------------------------------------------------------------


def psnr_by_iteration(
    model: nn.Module,
    pairs: Sequence[Gaussian8Pair],
    loops: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """PSNR (standard protocol) of a DAN's SR after each unrolled step ``1..loops`` (Eq. 5-6; default the trained
    ``loop``; more than trained runs the shared-weight steps further, the model's ``loop`` is restored after).

    Returns ``iterations``, ``trained_loop``, ``psnr`` (mean over ``pairs`` per step) and ``per_pair``
    (``"image/sigma_key" -> [psnr per step]``).
    """
    net = _checked_dan(model)
    if not pairs:
        raise ConfigError("no Gaussian8 pair given")
    dev = pick_device(device)
    net = net.to(dev).eval()
    per_pair: dict[str, list[float]] = {}
    for pair in pairs:
        images = _step_images(net, pair.lr, loops, dev)
        if images[0].shape[:2] != pair.hr.shape[:2]:
            raise ConfigError(f"the DAN model upscales x{net.scale}; the pair {pair.name} is not x{net.scale}")
        per_pair[f"{pair.name}/{sigma_key(pair.sigma)}"] = [
            float(evaluate_pair(sr, pair.hr, net.scale, compute_ssim=False).psnr) for sr in images
        ]
    steps = len(next(iter(per_pair.values())))
    return {"iterations": list(range(1, steps + 1)), "trained_loop": net.loop,
            "psnr": [float(np.mean([v[i] for v in per_pair.values()])) for i in range(steps)],
            "per_pair": per_pair}


def decode_kernel_code(model: nn.Module, codes: Tensor) -> Tensor:
    """Kernels ``(B, k, k)`` (float64) of PCA codes ``(B, L)``: ``codes @ pinv(M)``, the least-squares inverse of
    ``code = kernel @ M`` (``M^T`` for the orthonormal published matrix). With the published matrix they sum to 0:
    a code carries no mean (module docstring; :func:`with_unit_sum` adds it back)."""
    net = _checked_dan(model)
    matrix = net.encoder[0].double()
    if codes.dim() != 2 or codes.shape[1] != matrix.shape[1]:
        raise ConfigError(f"codes must be (B, {matrix.shape[1]}), got {tuple(codes.shape)}")
    flat = codes.to(matrix) @ torch.linalg.pinv(matrix)
    return flat.view(codes.shape[0], net.ksize, net.ksize)


def with_unit_sum(kernels: np.ndarray) -> np.ndarray:
    """``kernels`` (``(..., k, k)``) plus the constant that makes each sum to 1: the mean a decoded code lacks
    (module docstring). float64; a kernel that already sums to 1 is returned unchanged (to rounding)."""
    k = np.asarray(kernels, dtype=np.float64)
    return k + (1.0 - k.sum(axis=(-2, -1), keepdims=True)) / (k.shape[-2] * k.shape[-1])


def kernel_code_errors(model: nn.Module, kernel: np.ndarray, estimate: np.ndarray) -> dict[str, float]:
    """L1 distances (sums of absolute tap differences) of a decoded kernel ``estimate`` (``(k, k)``, e.g. the last
    step of :func:`kernel_trajectory`) and the true ``kernel``, with the mean added back to every decoded kernel
    (:func:`with_unit_sum`): ``estimate vs true``; ``true code vs true``, the true kernel's own code decoded, what a
    code can represent of it at best; ``estimate vs true code``, the Estimator's own error in code space."""
    net = _checked_dan(model)
    true, est = np.asarray(kernel, dtype=np.float64), with_unit_sum(estimate)
    if true.shape != (net.ksize, net.ksize) or est.shape != true.shape:
        raise ConfigError(f"kernel and estimate must be ({net.ksize}, {net.ksize}), got {true.shape} and {est.shape}")
    with torch.inference_mode():
        best = with_unit_sum(decode_kernel_code(net, true_kernel_code(net, true)).cpu().numpy()[0])
    return {"estimate vs true": float(np.abs(est - true).sum()), "true code vs true": float(np.abs(best - true).sum()),
            "estimate vs true code": float(np.abs(est - best).sum())}


def kernel_trajectory(
    model: nn.Module, lr: np.ndarray, loops: int | None = None, device: str | None = None
) -> np.ndarray:
    """The kernel estimated after each unrolled step (Eq. 3 unfolded: ``k_i = E(x_i, y)``) for a uint8 LR image;
    float64 ``(steps, k, k)``. v1: the Estimator's code decoded (:func:`decode_kernel_code`; it sums to 0);
    v2: its kernel."""
    net = _checked_dan(model)
    entry = _dan_entry(net)
    dev = pick_device(device)
    net = net.to(dev).eval()
    x = model_input(entry, lr, net.scale).to(dev)
    with _unrolled(net, loops), torch.inference_mode():
        out = net(x)
    if isinstance(net, DANv2):  # the Estimator outputs the kernel itself
        flat = torch.cat([k[:1] for k in out.kernels]).double()
        kernels = flat.view(-1, net.ksize, net.ksize)
    else:
        with torch.inference_mode():
            kernels = decode_kernel_code(net, torch.cat([c[:1] for c in out.ker_maps]))
    return kernels.cpu().numpy()
