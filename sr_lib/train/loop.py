"""The training loop: one function, readable top to bottom (after nanoGPT's ``train.py``).

``train(recipe, out_dir)`` builds the model and the update rule, then for each iteration ``k`` takes the batch
``k`` (a function of the seed and ``k``), sets the learning rate ``lr_at(recipe, k)``, updates, and every
``val_every`` iterations validates on ``recipe.val_set`` and writes ``out_dir/last.pt`` (model, optimizers,
gradient scaler, EMA, iteration, recipe, history) and ``out_dir/result.json`` atomically. ``resume=True``
continues from ``last.pt``: a run killed at any moment ends with the same weights as an uninterrupted one.
Started by ``torchrun --nproc-per-node N -m sr_lib.cli train ...``, it trains with DDP: each process takes its
share of the global batch, only rank 0 validates, logs and saves.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..complexity import count_macs
from ..data import load_benchmark
from ..errors import ConfigError
from ..evaluate import official_forward, pick_device, super_resolve
from ..imageio import atomic_path, atomic_torch_save
from ..metrics import evaluate_pair
from ..models import create_model, get_model_entry
from ..results import write_results
from ..weights import load_into, read_checkpoint, read_state_dict
from .patches import PatchSampler
from .recipes import Recipe, as_dict, lr_at, structural_diff
from .steps import GANStep, SupervisedStep, select_scale, unwrap

LOG_FIELDS = ("iteration", "seconds", "lr", "loss")


@dataclass
class TrainOutput:
    model: nn.Module  # the evaluation weights (the EMA when the recipe keeps one), in eval mode
    result: dict[str, Any]  # what result.json holds


def validate(model: nn.Module, model_name: str, scale: int, pairs: list, device: torch.device) -> float:
    """Mean Y-PSNR over benchmark ``pairs`` under the standard protocol (SR quantised to uint8), with the model's
    official test forward when it has one (CSNLN's chopping: whole-image attention would not fit in memory)."""
    entry = get_model_entry(model_name)
    was_training = model.training
    model.eval()
    select_scale(model, scale)
    forward = official_forward(entry, scale)
    psnr = [evaluate_pair(super_resolve(entry, model, p.lr, scale, device, forward=forward), p.hr, scale,
                          compute_ssim=False).psnr for p in pairs]
    model.train(was_training)
    return float(np.mean(psnr))


def training_macs_per_iteration(recipe: Recipe) -> int:
    """Multiply-accumulates of one update: 3x the forward pass (forward + backward) over the global batch."""
    entry = get_model_entry(recipe.model)
    macs = []
    for s in recipe.train_scales:
        side = recipe.hr_patch if entry.input.pre_upsample else recipe.hr_patch // s
        net = entry.create(s, recipe.options).to("meta")
        select_scale(net, s)
        macs.append(count_macs(net, (1, entry.input.channels, side, side), entry.predict))
    return 3 * int(np.mean(macs)) * recipe.batch_size


def _distributed() -> tuple[int, int]:
    """(rank, world size); joins the process group when torchrun started this process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _build(recipe: Recipe, device: torch.device) -> tuple[nn.Module, SupervisedStep | GANStep]:
    entry = get_model_entry(recipe.model)
    torch.manual_seed(recipe.seed)
    model = entry.create(recipe.scale, recipe.options)
    if recipe.init_from:  # strict, except the parameters the recipe names (they keep their initialisation)
        skip = recipe.init_skip
        state = {k: v for k, v in read_state_dict(recipe.init_from).items() if not k.startswith(skip)}
        state.update({k: v for k, v in model.state_dict().items() if skip and k.startswith(skip)})
        load_into(model, state, recipe.init_from)
    elif entry.load_aux_buffers:  # e.g. DAN's PCA matrix (hash-checked through the hub)
        entry.load_aux_buffers(model, None, True)
    model = model.to(device).train()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if recipe.update == "supervised":
        return model, SupervisedStep(model, entry, recipe, device)
    from ..losses import PerceptualLoss, SRGAN_FEATURE_SCALE
    from ..models.srresnet import SRGANDiscriminator

    disc = SRGANDiscriminator(input_size=recipe.hr_patch, output="logits", **dict(recipe.disc_options))
    disc = disc.to(device).train()
    content = None
    if recipe.content_loss.startswith("vgg"):
        from ..losses import vgg19_weights_path

        vgg = vgg19_weights_path(download=True)
        layer = {"vgg54": "relu5_4", "vgg22": "relu2_2"}[recipe.content_loss]
        content = PerceptualLoss(vgg, layer=layer, feature_scale=SRGAN_FEATURE_SCALE).to(device)
    return model, GANStep(model, disc, entry, recipe, device, content)


def _networks(step: SupervisedStep | GANStep) -> dict[str, nn.Module]:
    nets = {"model": step.model}
    if isinstance(step, GANStep):
        nets["discriminator"] = step.discriminator
    return {k: unwrap(v) for k, v in nets.items()}


def train(
    recipe: Recipe,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    device: str | torch.device | None = "auto",
    data_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainOutput:
    """Train ``recipe``; with ``out_dir``, keep ``last.pt``, ``result.json`` and ``log.csv`` there."""
    from tqdm.auto import tqdm

    recipe.check()
    rank, world = _distributed()
    dev = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', 0)}") if world > 1 and torch.cuda.is_available() \
        else pick_device(None if device == "auto" else str(device))
    entry = get_model_entry(recipe.model)
    out = Path(out_dir) if out_dir else None
    ckpt = out / "last.pt" if out else None
    if resume and (ckpt is None or not ckpt.is_file()):
        raise ConfigError(f"nothing to resume: {ckpt or 'no --out folder'} does not exist")
    if not resume and ckpt is not None and ckpt.is_file():
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")

    model, step = _build(recipe, dev)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if recipe.ema else None
    start, history, seconds0 = 0, [], 0.0
    if resume:
        state = read_checkpoint(ckpt)
        changed = structural_diff(state["recipe"], recipe)
        if changed:
            raise ConfigError(f"cannot resume {out}: the recipe changed in {', '.join(changed)}")
        for name, net in _networks(step).items():
            net.load_state_dict(state["train_" + name if "train_" + name in state else name])
        for name, opt in step.optimizers().items():
            opt.load_state_dict(state["optimizers"][name])
        step.scaler.load_state_dict(state["scaler"])
        ema = state.get("ema")
        torch.set_rng_state(state["torch_rng"].cpu())
        start, history, seconds0 = state["iteration"], state["history"], state["seconds"]
    if world > 1:
        step.model = nn.parallel.DistributedDataParallel(
            model, find_unused_parameters=bool(entry.params_without_grad))
        if isinstance(step, GANStep):
            step.discriminator = nn.parallel.DistributedDataParallel(step.discriminator)

    sampler = PatchSampler(recipe, data_dir)
    val_pairs = load_benchmark(recipe.val_set, recipe.scale, data_dir) if rank == 0 else []
    macs_per_it = training_macs_per_iteration(recipe)
    eval_model = create_model(recipe.model, recipe.scale, options=recipe.options).to(dev) if ema else model
    bicubic = validate(create_model("bicubic", recipe.scale), "bicubic", recipe.scale, val_pairs, dev) \
        if rank == 0 else math.nan
    if out and rank == 0:
        _trim_log(out / "log.csv", start)

    def checkpoint_and_report(it: int, seconds: float, status: str) -> dict[str, Any]:
        if ema is not None:
            eval_model.load_state_dict(ema)
        psnr = validate(eval_model, recipe.model, recipe.scale, val_pairs, dev)
        history.append({"iteration": it, "seconds": round(seconds, 2), "lr": lr_at(recipe, max(it - 1, 0)),
                        "loss": running, "val_psnr": psnr})
        result = {"kind": "train", "model": recipe.model, "scale": recipe.scale, "preset": recipe.preset,
                  "seed": recipe.seed, "recipe": as_dict(recipe), "history": history, "status": status,
                  "final": {"iteration": it, "val_set": recipe.val_set, "val_psnr": psnr, "bicubic_psnr": bicubic,
                            "seconds": round(seconds, 2), "train_macs": macs_per_it * it,
                            "macs_per_iteration": macs_per_it}}
        if out:
            state = {"model": eval_model.state_dict(), "iteration": it, "recipe": as_dict(recipe),
                     "history": history, "seconds": seconds, "torch_rng": torch.get_rng_state(),
                     "optimizers": {k: o.state_dict() for k, o in step.optimizers().items()},
                     "scaler": step.scaler.state_dict(), "ema": ema}
            state.update({"train_" + k: n.state_dict() for k, n in _networks(step).items()})
            atomic_torch_save(ckpt, state)
            result = write_results(out / "result.json", result, device=dev,
                                   data_files=[f for p in val_pairs for f in p.files])
        if log:
            log(f"iteration {it}: loss {running:.4g}, {recipe.val_set} x{recipe.scale} {psnr:.2f} dB "
                f"(bicubic {bicubic:.2f})")
        return result

    running = history[-1]["loss"] if history else math.nan
    result: dict[str, Any] = {}
    if start == 0 and rank == 0:
        result = checkpoint_and_report(0, 0.0, "running")
    bar = tqdm(total=recipe.iters, initial=start, disable=not progress or rank != 0,
               desc=f"train {recipe.model} x{recipe.scale}", mininterval=0.5 if sys.stderr.isatty() else 30.0)
    t0 = time.perf_counter() - seconds0
    for it in range(start, recipe.iters):
        lr = lr_at(recipe, it)
        stats = step(sampler.batch(it, rank, world), lr)
        if ema is not None:
            with torch.no_grad():
                for k, v in _networks(step)["model"].state_dict().items():
                    ema[k].copy_(v) if not v.is_floating_point() else ema[k].lerp_(v, 1.0 - recipe.ema)
        done = it + 1
        if not math.isfinite(stats["loss"]):  # diverged: nothing left to learn from; say so and stop
            if rank == 0:
                result = _report_divergence(out, result, recipe, history, done, time.perf_counter() - t0, dev)
                if log:
                    log(f"iteration {done}: the loss is {stats['loss']}; the run diverged and stops")
            break
        running = stats["loss"] if math.isnan(running) else 0.95 * running + 0.05 * stats["loss"]
        if rank == 0:
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3g}", psnr=f"{history[-1]['val_psnr']:.2f}" if history else "-",
                            refresh=False)
            if out and done % recipe.log_every == 0:
                _append_log(out / "log.csv", {"iteration": done, "seconds": round(time.perf_counter() - t0, 2),
                                              "lr": lr, "loss": stats["loss"]})
            if done % recipe.val_every == 0 or done == recipe.iters:
                status = "complete" if done == recipe.iters else "running"
                result = checkpoint_and_report(done, time.perf_counter() - t0, status)
        if world > 1 and (done % recipe.val_every == 0 or done == recipe.iters):
            dist.barrier()
    bar.close()
    if rank == 0 and not result:  # resumed a run that had already finished
        result = checkpoint_and_report(recipe.iters, time.perf_counter() - t0, "complete")
    if ema is not None:
        eval_model.load_state_dict(ema)
    return TrainOutput(eval_model.eval(), result)


def _report_divergence(out: Path | None, result: dict[str, Any], recipe: Recipe, history: list[dict[str, Any]],
                       iteration: int, seconds: float, device: torch.device) -> dict[str, Any]:
    """``result.json`` of a run whose loss became inf/NaN at ``iteration`` (status ``diverged``, no PSNR)."""
    result = {**result, "kind": "train", "model": recipe.model, "scale": recipe.scale, "preset": recipe.preset,
              "seed": recipe.seed, "recipe": as_dict(recipe), "history": history, "status": "diverged",
              "final": {**result.get("final", {}), "iteration": iteration, "val_psnr": None,
                        "seconds": round(seconds, 2), "diverged_at": iteration}}
    result.pop("provenance", None)
    return write_results(out / "result.json", result, device=device) if out else result


def _trim_log(path: Path, iteration: int) -> None:
    """Drop the log rows after ``iteration`` (a resumed run writes them again)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= iteration]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _append_log(path: Path, row: dict[str, Any]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
