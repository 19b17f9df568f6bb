"""What CSNLN's attention costs: time and peak memory of the whole-image forward against the official chopped one.

CSNLN (Mei et al., CVPR 2020) attends over the whole feature map: the in-scale attention (IS-NL, Eq. 1) builds an
``HW x HW`` matrix for an ``H x W`` LR input, the cross-scale one (CS-NL, Eq. 3-4) an ``HW/u^2 x HW`` matrix and a
transposed convolution with one ``3u x 3u`` kernel per key, so both time and memory grow with the *square* of the
number of pixels. The official test command therefore runs ``--chop``: :func:`sr_lib.models.csnln.forward_chop`
splits the LR image into overlapping quadrants, recursively, until each has fewer than 3600 pixels, so its cost grows
linearly with the image (and it is a different function from the whole-image forward).

For each model (``quick``: the chapter's quick preset, 16 features and one unrolled step; ``paper``: 128 features,
12 steps, only at sizes below ``--max-gmacs``) and each square LR size, both protocols are measured at x2 on random
weights and a random input, each in a fresh Python process (this script run with ``--row``; a forked process could
hang in OpenMP when the parent had already used its thread pool, as a test runner does):

* ``gmacs``, ``network_calls``: multiply-accumulates counted on the meta device (:mod:`sr_lib.complexity`; for the
  chopped protocol every tile is counted);
* ``attention_matrix_mib``: the analytic size of the largest attention matrix, the IS-NL scores of the largest
  network call, ``4 (hw)^2`` bytes in float32 (CS-NL's are ``u^2`` times smaller); the forward holds about two such
  matrices at once (scores and softmax);
* ``peak_rss_increase_mib``: the increase of the process's peak resident memory (``getrusage`` maxrss) from just
  before the first forward to the end, so it is the peak of one forward pass above the model and input;
* ``median_s``: the median of ``--repeat`` timed calls after one warm-up call (``torch.inference_mode``).

The table gives every size's ratio to the smallest size measured in the same run, with the pixel ratio and its
square for reference. Results and provenance go atomically to ``--json``:

    OMP_NUM_THREADS=1 nice python benchmarks/csnln_cost.py --json results/bench_csnln_cost_cpu.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sr_lib.complexity import count_macs, count_macs_via
from sr_lib.errors import SRLibError
from sr_lib.models import create_model
from sr_lib.models.csnln import forward_chop
from sr_lib.results import write_results
from sr_lib.train import get_recipe

SCALE = 2
PROTOCOLS = ("whole", "chop")
DEFAULT_SIZES = {"quick": (24, 32, 48, 64, 96, 128, 192), "paper": (16, 24, 32)}


def model_options() -> dict[str, dict[str, Any]]:
    """The two configurations measured: the quick preset's model and the paper's (the registry default)."""
    return {"quick": dict(get_recipe("csnln", "quick", SCALE).options), "paper": {}}


def attention_matrix_bytes(lr_hw: tuple[int, int]) -> int:
    """Bytes of one float32 IS-NL score matrix (``HW x HW``, paper Eq. 1) for an ``H x W`` LR input (batch 1)."""
    pixels = lr_hw[0] * lr_hw[1]
    return 4 * pixels * pixels


def chop_tile_sizes(lr_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """The LR sizes of the network calls :func:`forward_chop` makes for an ``lr_hw`` input at x2 (in call order)."""
    sizes: list[tuple[int, int]] = []

    def record(t: torch.Tensor) -> torch.Tensor:
        sizes.append((int(t.shape[-2]), int(t.shape[-1])))
        return t.new_empty(t.shape[0], 3, SCALE * t.shape[-2], SCALE * t.shape[-1])

    forward_chop(record, torch.empty(1, 3, *lr_hw, device="meta"), scale=SCALE)
    return sizes


def _protocol(name: str) -> Any:
    if name == "whole":
        return lambda fn, x: fn(x)
    return lambda fn, x: forward_chop(fn, x, scale=SCALE)


def _measure(model_name: str, lr_hw: tuple[int, int], protocol: str, repeat: int) -> dict[str, Any]:
    """Count, then time one (model, size, protocol) in this process; a dict, or one error line under ``error``."""
    try:
        torch.manual_seed(0)
        model = create_model("csnln", SCALE, options=model_options()[model_name]).eval()
        shape = (1, 3, *lr_hw)
        if protocol == "whole":
            macs, calls = count_macs(model, shape), 1
            largest = lr_hw
        else:
            macs, calls = count_macs_via(model, shape, _protocol(protocol))
            largest = max(chop_tile_sizes(lr_hw), key=lambda hw: hw[0] * hw[1])
        x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
        run = _protocol(protocol)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = []
        with torch.inference_mode():
            run(model, x)  # warm-up
            for _ in range(repeat):
                start = time.perf_counter()
                run(model, x)
                times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"gmacs": macs / 1e9, "network_calls": calls, "largest_call": list(largest),
                "attention_matrix_mib": attention_matrix_bytes(largest) / 2**20,
                "median_s": statistics.median(times), "times_s": times,
                "peak_rss_increase_mib": (after - before) / 1024}  # ru_maxrss is in KiB on Linux
    except (SRLibError, RuntimeError, MemoryError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}


def measure(model_name: str, lr_hw: tuple[int, int], protocol: str, repeat: int) -> dict[str, Any]:
    """One row, measured by this script in a fresh Python process so that its peak memory is its own."""
    row: dict[str, Any] = {"model": model_name, "protocol": protocol, "lr_size": list(lr_hw),
                           "pixels": lr_hw[0] * lr_hw[1]}
    child = subprocess.run([sys.executable, __file__, "--row", model_name, str(lr_hw[0]), str(lr_hw[1]), protocol,
                            str(repeat)], capture_output=True, text=True)
    lines = child.stdout.strip().splitlines()
    if child.returncode != 0 or not lines:
        row["error"] = f"the measuring process ended without a result (exit {child.returncode}; killed, out of memory?)"
    else:
        row.update(json.loads(lines[-1]))
    return row


def skip_reason(model_name: str, lr_hw: tuple[int, int], protocol: str, max_gmacs: float,
                max_attention_mib: float) -> str | None:
    """Why a configuration is not run (too many MACs or too large an attention matrix), or None."""
    with torch.device("meta"):  # nothing real is computed here
        model = create_model("csnln", SCALE, options=model_options()[model_name])
    shape = (1, 3, *lr_hw)
    macs = count_macs(model, shape) if protocol == "whole" else count_macs_via(model, shape, _protocol(protocol))[0]
    if macs / 1e9 > max_gmacs:
        return f"{macs / 1e9:,.0f} GMACs > --max-gmacs {max_gmacs:,.0f}"
    largest = lr_hw if protocol == "whole" else max(chop_tile_sizes(lr_hw), key=lambda hw: hw[0] * hw[1])
    mib = attention_matrix_bytes(largest) / 2**20
    if mib > max_attention_mib:
        return f"attention matrix {mib:,.0f} MiB > --max-attention-mib {max_attention_mib:,.0f}"
    return None


def print_table(rows: list[dict[str, Any]]) -> None:
    """Every measured row with its ratios to the smallest size of the same model and protocol in this run."""
    print(f"{'model':6s} {'protocol':8s} {'LR':>9s} {'GMACs':>9s} {'calls':>5s} {'attn MiB':>9s} {'time s':>8s} "
          f"{'peak MiB':>9s} | ratios to the smallest size: {'pixels':>6s} {'pixels^2':>8s} {'time':>7s} "
          f"{'peak':>6s}")
    for model in dict.fromkeys(r["model"] for r in rows):
        for protocol in PROTOCOLS:
            done = [r for r in rows if r["model"] == model and r["protocol"] == protocol and "median_s" in r]
            for r in (r for r in rows if r["model"] == model and r["protocol"] == protocol):
                size = "x".join(map(str, r["lr_size"]))
                if "median_s" not in r:
                    print(f"{model:6s} {protocol:8s} {size:>9s} {r.get('skipped') or r.get('error')}")
                    continue
                base = done[0]
                px = r["pixels"] / base["pixels"]
                mem = r["peak_rss_increase_mib"] / base["peak_rss_increase_mib"] \
                    if base["peak_rss_increase_mib"] > 0 else float("nan")
                print(f"{model:6s} {protocol:8s} {size:>9s} {r['gmacs']:9.2f} {r['network_calls']:5d} "
                      f"{r['attention_matrix_mib']:9.1f} {r['median_s']:8.3f} {r['peak_rss_increase_mib']:9.1f} | "
                      f"{'':28s} {px:6.1f} {px * px:8.1f} {r['median_s'] / base['median_s']:7.1f} {mem:6.1f}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--row"]:  # the child process of :func:`measure`: one JSON line on stdout
        model, height, width, protocol, repeat = argv[1:]
        print(json.dumps(_measure(model, (int(height), int(width)), protocol, int(repeat))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=sorted(DEFAULT_SIZES), default=list(DEFAULT_SIZES))
    ap.add_argument("--sizes", nargs="+", type=int, help="square LR sides, even (default: per model, see the code)")
    ap.add_argument("--repeat", type=int, default=2, help="timed calls after one warm-up call")
    ap.add_argument("--max-gmacs", type=float, default=70.0, help="skip configurations above this many GMACs")
    ap.add_argument("--max-attention-mib", type=float, default=1100.0,
                    help="skip configurations whose largest attention matrix exceeds this many MiB")
    ap.add_argument("--json", type=Path, help="write the results with provenance here (atomically)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")
    if args.sizes and any(s < 2 or s % 2 for s in args.sizes):
        ap.error("--sizes must be even integers >= 2 (CSNLN x2 needs LR sides divisible by 2)")

    threads = torch.get_num_threads()
    print(f"CSNLN x{SCALE}, CPU, {threads} threads, 1 warm-up + {args.repeat} timed calls per row; "
          "each row in its own process")
    rows = []
    for model in args.models:
        for size in args.sizes or DEFAULT_SIZES[model]:
            for protocol in PROTOCOLS:
                try:
                    reason = skip_reason(model, (size, size), protocol, args.max_gmacs, args.max_attention_mib)
                except SRLibError as exc:  # e.g. forward_chop refuses inputs smaller than its quadrants
                    reason = str(exc)
                row = {"model": model, "protocol": protocol, "lr_size": [size, size], "pixels": size * size,
                       "skipped": reason} if reason else measure(model, (size, size), protocol, args.repeat)
                rows.append(row)
                print(f"  {model} {protocol} {size}x{size}: "
                      + (f"skipped ({reason})" if reason else row.get("error") or f"{row['median_s']:.3f} s"),
                      flush=True)
    print_table(rows)
    if args.json:
        write_results(args.json, {
            "kind": "bench", "benchmark": "csnln_cost", "scale": SCALE, "threads": threads,
            "repeat": args.repeat, "max_gmacs": args.max_gmacs, "max_attention_mib": args.max_attention_mib,
            "models": model_options(), "protocols": list(PROTOCOLS), "results": rows,
        }, device="cpu")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
