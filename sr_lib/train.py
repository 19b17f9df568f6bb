"""A small, real training engine: paired patches, Adam, a pixel loss, periodic validation and atomic checkpoints.

``train(model_name, scale, config)`` trains a registered model from scratch. :data:`PRESETS` holds named recipes:
``srcnn/quick`` is sized to finish on two CPU cores in a few minutes; ``srcnn/paper`` follows the official Caffe
recipe as far as it is readable (T91, 33x33 inputs, MSE; see ``papers/training_recipes.md``), with Adam instead of
SGD as the book explains.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .data import PairedPatches, iter_hr_images, load_benchmark
from .errors import ConfigError
from .evaluate import pick_device, super_resolve
from .imageio import atomic_torch_save
from .metrics import evaluate_pair
from .models import create_model, get_model_entry


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (it is stored in the checkpoint and the results file)."""

    train_sets: tuple[str, ...] = ("T91",)
    val_set: str = "Set5"
    patch: int = 11  # LR patch side; the HR patch is patch * scale
    batch_size: int = 64
    iterations: int = 2000
    lr: float = 1e-3
    lr_decay_at: tuple[int, ...] = ()  # iterations where the learning rate is halved
    loss: Literal["mse", "l1"] = "mse"
    grad_clip: float | None = None
    val_every: int = 250
    time_limit_s: float | None = None  # stop early (after a validation) once this much time has passed
    seed: int = 0
    num_threads: int | None = None


PRESETS: dict[str, TrainConfig] = {
    # Two CPU cores, under five minutes: T91 patches (16x16 LR), Adam, MSE on Y, He initialisation.
    "srcnn/quick": TrainConfig(patch=16, batch_size=16, iterations=6000, lr=1e-3, lr_decay_at=(2000, 3500, 5000),
                               val_every=1000, time_limit_s=280.0),
    # Closer to the paper: T91, 11x11 LR patches (33x33 at x3, the size of the official Caffe script), long.
    "srcnn/paper": TrainConfig(patch=11, batch_size=128, iterations=200_000, lr=1e-3,
                               lr_decay_at=(100_000, 150_000), val_every=5000),
}


def preset(model: str, name: str) -> TrainConfig:
    key = f"{get_model_entry(model).family}/{name}"
    if key not in PRESETS:
        raise ConfigError(f"no training preset '{name}' for {model}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[key]


@dataclass
class TrainResult:
    model: str
    scale: int
    config: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)  # iteration, seconds, loss, val_psnr
    final_psnr: float = float("nan")
    wall_time_s: float = 0.0


def validate(model: nn.Module, model_name: str, scale: int, pairs: list, device: torch.device) -> float:
    """Mean Y-PSNR of ``model`` over benchmark ``pairs`` (standard protocol)."""
    entry = get_model_entry(model_name)
    model.eval()
    scores = [evaluate_pair(super_resolve(entry, model, p.lr, scale, device), p.hr, scale, compute_ssim=False).psnr
              for p in pairs]
    model.train()
    return float(np.mean(scores))


def train(
    model_name: str,
    scale: int,
    config: TrainConfig,
    data_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train ``model_name`` at ``scale`` from scratch; returns the model and its curve."""
    from tqdm.auto import tqdm

    entry = get_model_entry(model_name)
    entry.check_scale(scale)
    if config.iterations < 1 or config.batch_size < 1:
        raise ConfigError("iterations and batch_size must be positive")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    dev = pick_device(device)
    torch.manual_seed(config.seed)
    model = create_model(model_name, scale).to(dev).train()
    hr_images = list(iter_hr_images(config.train_sets, data_dir))
    dataset = PairedPatches(hr_images, scale, config.patch, color=entry.input.color,
                            pre_upsample=entry.input.pre_upsample, length=config.iterations * config.batch_size,
                            seed=config.seed)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=0)
    val_pairs = load_benchmark(config.val_set, scale, data_dir)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.lr_decay_at), gamma=0.5)
    criterion = nn.MSELoss() if config.loss == "mse" else nn.L1Loss()
    result = TrainResult(model_name, scale, asdict(config))
    start = time.perf_counter()
    result.history.append({"iteration": 0, "seconds": 0.0, "loss": math.nan,
                           "val_psnr": validate(model, model_name, scale, val_pairs, dev)})
    bar = tqdm(total=config.iterations, disable=not progress, desc=f"train {model_name} x{scale}")
    running = 0.0
    for it, (lr_patch, hr_patch) in enumerate(loader, start=1):
        scale_px = entry.input.pixel_max
        out = entry.predict(model, lr_patch.to(dev) * scale_px)
        loss = criterion(out, hr_patch.to(dev) * scale_px)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        running = loss.item() if it == 1 else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.2e}")
        elapsed = time.perf_counter() - start
        out_of_time = config.time_limit_s is not None and elapsed > config.time_limit_s
        if it % config.val_every == 0 or it == config.iterations or out_of_time:
            psnr = validate(model, model_name, scale, val_pairs, dev)
            result.history.append({"iteration": it, "seconds": round(time.perf_counter() - start, 2),
                                   "loss": running, "val_psnr": psnr})
            if log:
                log(f"iteration {it}: loss {running:.3e}, {config.val_set} x{scale} {psnr:.2f} dB")
            if checkpoint:
                save_checkpoint(checkpoint, model, model_name, scale, config, it)
        if out_of_time:
            break
    bar.close()
    result.final_psnr = result.history[-1]["val_psnr"]
    result.wall_time_s = round(time.perf_counter() - start, 2)
    return model.eval(), result


def save_checkpoint(path: str | Path, model: nn.Module, model_name: str, scale: int, config: TrainConfig,
                    iteration: int) -> None:
    """Atomic checkpoint: plain tensors and plain Python values only (loadable with ``weights_only=True``)."""
    atomic_torch_save(path, {"state_dict": model.state_dict(), "model": model_name, "scale": scale,
                             "iteration": iteration, "config": asdict(config)})


def with_overrides(config: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy of ``config`` with the non-None ``overrides`` applied."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
