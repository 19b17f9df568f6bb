"""Training throughput of the engine against a plain hand-written PyTorch loop, in the same run.

For each model's ``quick`` recipe, both loops train the same network (same seed, so the same initial weights) on the
same batches (:class:`sr_lib.train.PatchSampler`, batch ``k`` for iteration ``k``) with the same optimizer and loss:

* ``plain``  — the reference: ``for k: batch -> forward -> loss -> zero_grad -> backward -> step``;
* ``engine`` — :func:`sr_lib.train.train` with a run folder (log rows, learning-rate function, checkpoint at the end).

The engine's time is its loop time as recorded in ``result.json`` (validation excluded; the plain loop does none).
The two are timed alternately (``--repeat`` rounds) so that drift affects both alike; the table gives the median
patches/s and the ratio engine / plain (1 = no overhead). ``--amp`` (CUDA only) adds bf16 runs of both.

    python benchmarks/bench_train.py --data-dir ../shared/datasets --iters 60 --repeat 3 \
        --json results/bench_train_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from sr_lib.evaluate import pick_device
from sr_lib.models import get_model_entry
from sr_lib.results import write_results
from sr_lib.train import PatchSampler, Recipe, get_recipe, lr_at, train
from sr_lib.train.steps import make_optimizer, select_scale


def plain_loop(recipe: Recipe, sampler: PatchSampler, device: torch.device) -> float:
    """Seconds for ``recipe.iters`` updates of the simplest correct loop."""
    entry = get_model_entry(recipe.model)
    torch.manual_seed(recipe.seed)
    model = entry.create(recipe.scale, recipe.options).to(device).train()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model.parameters(), recipe, recipe.lr)
    loss_fn = F.l1_loss if recipe.loss == "l1" else F.mse_loss
    px = entry.input.pixel_max
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=recipe.amp == "bf16" and device.type == "cuda")
    start = time.perf_counter()
    for k in range(recipe.iters):
        batch = sampler.batch(k)
        select_scale(model, batch.scale)
        for group in opt.param_groups:
            group["lr"] = lr_at(recipe, k)
        with amp:
            loss = loss_fn(entry.predict(model, batch.lr.to(device) * px).float(), batch.hr.to(device) * px)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def engine_loop(recipe: Recipe, data_dir: str | None, device: torch.device) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run = train(recipe, Path(tmp) / "run", device=str(device), data_dir=data_dir, progress=False)
    return float(run.result["final"]["seconds"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["srcnn", "vdsr", "edsr-baseline"])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--data-dir")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="CUDA: also time bf16 autocast")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    device = pick_device(None if args.device == "auto" else args.device)
    rows = []
    for name in args.models:
        for amp in (["off", "bf16"] if args.amp and device.type == "cuda" else ["off"]):
            recipe = replace(get_recipe(name, "quick", args.scale), iters=args.iters, val_every=args.iters, amp=amp)
            sampler = PatchSampler(recipe, args.data_dir)
            plain_loop(replace(recipe, iters=3), sampler, device)  # warm-up (allocator, kernels)
            times: dict[str, list[float]] = {"plain": [], "engine": []}
            for _ in range(args.repeat):
                times["plain"].append(plain_loop(recipe, sampler, device))
                times["engine"].append(engine_loop(recipe, args.data_dir, device))
            patches = recipe.iters * recipe.batch_size
            plain, engine = (patches / statistics.median(times[k]) for k in ("plain", "engine"))
            rows.append({"model": name, "amp": amp, "batch_size": recipe.batch_size, "hr_patch": recipe.hr_patch,
                         "iters": recipe.iters, "plain_patches_per_s": plain, "engine_patches_per_s": engine,
                         "ratio_engine_to_plain": engine / plain, "seconds": times})
            print(f"{name:14s} {amp:4s} plain {plain:8.1f} patches/s   engine {engine:8.1f} patches/s   "
                  f"ratio {engine / plain:.3f}", flush=True)
    if args.json:
        write_results(args.json, {"kind": "bench", "benchmark": "train_throughput", "device_type": device.type,
                                  "threads": torch.get_num_threads(), "rows": rows}, device=device)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
