"""Inference time of every registered model: eager float32 against inference_mode and channels_last.

For each model (paper preset, random weights, eval mode, float32) one image is super-resolved at ``--scale``
(default x4) from an LR input of ``--size`` (height x width; the pre-upsampling networks SRCNN, VDSR and CMSC get the
HR-size input instead, as they would in use). Four variants run in the same process, on the same weights and input:

* ``eager``           — ``torch.no_grad()``, NCHW: the reference every ratio is relative to;
* ``inference_mode``  — ``torch.inference_mode()`` instead of ``no_grad`` (no version counters, no view tracking);
* ``channels_last``   — weights and input in ``torch.channels_last`` memory format, under ``no_grad``;
* ``channels_last+inference_mode`` — both.

Each variant is warmed up (``--warmup`` calls), then the variants are timed round-robin (``--repeat`` rounds, one
call each per round) so that clock or thermal drift affects them alike; on CUDA every call is synchronised. The
table gives the median time in ms and the ratio to the eager median (< 1 = faster), and the largest absolute
difference of each variant's output from the eager one (the variants compute the same function, up to float
reordering). Results and provenance (commit, device, torch version, time) go atomically to ``--json``.

Size: the default ``--size auto`` is 180x320 LR on a GPU (a 720x1280 output at x4) and 90x160 on a CPU, where the
full size takes minutes per call for the larger networks. Models whose forward pass exceeds ``--max-gmacs``
multiply-accumulates (counted beforehand on the meta device by :mod:`sr_lib.complexity`) are skipped with a note:
whole-image CSNLN at x4 needs about 10^6 GMACs and tens of GB at 180x320 (its official test chops the image).

    python benchmarks/bench_inference.py --device cpu --size 45x80 --models srcnn edsr-baseline --repeat 5
    python benchmarks/bench_inference.py --device cuda --json results/bench_inference_cuda.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from sr_lib.complexity import build_on_meta, count_macs, input_shape_for
from sr_lib.errors import ConfigError, SRLibError
from sr_lib.evaluate import pick_device
from sr_lib.models import create_model, get_model_entry, list_models
from sr_lib.provenance import environment
from sr_lib.results import write_results

VARIANTS = ("eager", "inference_mode", "channels_last", "channels_last+inference_mode")
DEFAULT_SIZE = {"cuda": (180, 320), "cpu": (90, 160)}


def parse_size(text: str) -> tuple[int, int] | None:
    if text == "auto":
        return None
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or min(int(m[1]), int(m[2])) < 1:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH (e.g. 90x160) or 'auto', got {text!r}")
    return int(m[1]), int(m[2])


def _grad_context(variant: str) -> contextlib.AbstractContextManager[Any]:
    return torch.inference_mode() if variant.endswith("inference_mode") else torch.no_grad()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_model(name: str, scale: int, lr_hw: tuple[int, int], device: torch.device, repeat: int, warmup: int,
                max_gmacs: float | None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time the four variants of one model; a dict with per-variant times, or a ``skipped`` reason."""
    entry = get_model_entry(name)
    shape = input_shape_for(name, scale, lr_hw)
    macs = count_macs(build_on_meta(name, scale), shape, entry.predict)
    result: dict[str, Any] = {"model": name, "input_shape": list(shape), "gmacs": macs / 1e9}
    if max_gmacs is not None and macs / 1e9 > max_gmacs:
        result["skipped"] = f"{macs / 1e9:,.0f} GMACs > --max-gmacs {max_gmacs:,.0f}"
        log(format_row(result))
        return result

    torch.manual_seed(0)
    model = create_model(name, scale).to(device).eval()
    model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(1)) * entry.input.pixel_max).to(device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    runs = {
        "eager": (model, x), "inference_mode": (model, x),
        "channels_last": (model_cl, x_cl), "channels_last+inference_mode": (model_cl, x_cl),
    }

    def call(variant: str) -> torch.Tensor:
        net, inp = runs[variant]
        with _grad_context(variant):
            return entry.predict(net, inp)

    outputs = {}
    for v in VARIANTS:  # warm-up (allocator, cuDNN algorithm choice, one-time layout conversions)
        for _ in range(warmup):
            outputs[v] = call(v)
        if warmup == 0:
            outputs[v] = call(v)
        _sync(device)
    reference = outputs["eager"].float()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(repeat):
        for v in VARIANTS:
            _sync(device)
            start = time.perf_counter()
            call(v)
            _sync(device)
            times[v].append((time.perf_counter() - start) * 1e3)
    ref_median = statistics.median(times["eager"])
    result["variants"] = {
        v: {
            "median_ms": statistics.median(t), "min_ms": min(t), "times_ms": t,
            "ratio_vs_eager": statistics.median(t) / ref_median,
            "max_abs_diff_vs_eager": float((outputs[v].float() - reference).abs().max()),
        }
        for v, t in times.items()
    }
    result["output_max_abs"] = float(reference.abs().max())
    log(format_row(result))
    return result


_SHORT = {"eager": "eager", "inference_mode": "inference_mode", "channels_last": "channels_last",
          "channels_last+inference_mode": "cl+inference_mode"}


def format_header() -> str:
    return f"{'model':16s} {'input':>12s} {'GMACs':>9s} {'eager ms':>10s}" + "".join(
        f" {_SHORT[v] + ' ms (ratio)':>28s}" for v in VARIANTS[1:])


def format_row(r: dict[str, Any]) -> str:
    shape = "x".join(str(s) for s in r["input_shape"][1:])
    head = f"{r['model']:16s} {shape:>12s} {r['gmacs']:9,.1f}"
    if "skipped" in r:
        return f"{head} skipped: {r['skipped']}"
    var = r["variants"]
    cells = "".join(f" {var[v]['median_ms']:19.1f} ({var[v]['ratio_vs_eager']:5.2f})" for v in VARIANTS[1:])
    return f"{head} {var['eager']['median_ms']:10.1f}{cells}"


def iter_models(names: list[str] | None, scale: int) -> Iterator[str]:
    for name in names or [n for n in list_models() if n != "bicubic"]:
        entry = get_model_entry(name)  # ConfigError for unknown names
        if scale in entry.scales:
            yield name
        elif names:
            raise ConfigError(f"model '{name}' has no x{scale} preset")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", help="registry names (default: every model with a preset at --scale)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--size", type=parse_size, default="auto",
                    help="LR height x width, e.g. 180x320; 'auto' = 180x320 on GPU, 90x160 on CPU")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds (one call per variant each)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per variant first")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads on CPU (default: torch's choice)")
    ap.add_argument("--max-gmacs", type=float, default=20000.0,
                    help="skip models above this many GMACs at this size (default 20000; 0 = no limit)")
    ap.add_argument("--json", type=Path, help="write the results with provenance here (atomically)")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        ap.error("--repeat must be >= 1 and --warmup >= 0")

    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    lr_hw = args.size or DEFAULT_SIZE["cuda" if device.type == "cuda" else "cpu"]
    max_gmacs = args.max_gmacs or None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the usual inference setting; fixed shapes

    print(f"x{args.scale}, LR {lr_hw[0]}x{lr_hw[1]}, device {environment(device)['device']}, torch {torch.__version__}, "
          f"{args.warmup} warm-up + {args.repeat} timed calls per variant; medians, ratio = variant / eager")
    print(format_header())
    results = [bench_model(name, args.scale, lr_hw, device, args.repeat, args.warmup, max_gmacs)
               for name in iter_models(args.models, args.scale)]
    timed = [r for r in results if "variants" in r]
    if timed:
        for v in VARIANTS[1:]:
            ratios = [r["variants"][v]["ratio_vs_eager"] for r in timed]
            geo = math.exp(sum(math.log(q) for q in ratios) / len(ratios))
            print(f"geometric mean ratio {v:30s} {geo:.3f}x over {len(ratios)} models")
    if args.json:
        write_results(args.json, {
            "kind": "bench", "benchmark": "inference", "scale": args.scale, "lr_size": list(lr_hw),
            "repeat": args.repeat, "warmup": args.warmup, "variants": list(VARIANTS), "reference": "eager",
            "max_gmacs": max_gmacs, "results": results,
        }, device=device)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except SRLibError as exc:  # an unknown model, a missing device: one line, no traceback
        raise SystemExit(f"bench_inference: error: {exc}") from None
