"""Cost of SAN's matrix square root: Newton-Schulz iterations against an eigendecomposition, in the same run.

SAN's second-order channel attention (Dai et al., CVPR 2019, Sec. 3.4) needs ``Sigma^(1/2)`` of one C x C covariance
matrix per image and attention layer. For each channel count C (``--channels``, default 16 64 256) a batch of
``--batch`` covariance matrices (default 16, the training batch) is built with
:func:`sr_lib.models.san.covariance_pool` from random features of a 48 x 48 LR patch, in ``--dtype`` (default float32,
the network's). Methods, on the same matrices:

* ``eigh``  — :func:`torch.linalg.eigh`, then ``V diag(sqrt(max(lambda, 0))) V^T``: the exact square root and the
  reference of every ratio;
* ``ns-k``  — :func:`sr_lib.models.san.sqrtm_newton_schulz` with k iterations, for each k of ``--iterations``
  (default 3 5 10; SAN uses 5).

Each method is timed twice: ``forward`` (the square root alone) and ``forward+backward`` (also the gradient of
``sum(G * sqrt(Sigma))`` for a fixed random G, what training needs). After ``--warmup`` untimed calls, the methods are
timed round-robin (``--repeat`` rounds) so that drift affects them alike. The table gives the median ms, the ratio to
``eigh`` in the same pass (< 1 = faster), the MACs of one call counted by
:class:`torch.utils.flop_counter.FlopCounterMode` (matrix products only, so ``n/a`` for ``eigh``, whose LAPACK work is
not traced), the largest relative Frobenius distance of a result from ``eigh``'s in float64, and whether every gradient
was finite. Results and provenance go atomically to ``--json``.

    OMP_NUM_THREADS=1 nice python benchmarks/newton_schulz.py --json results/bench_newton_schulz_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from sr_lib.errors import ConfigError, SRLibError
from sr_lib.evaluate import pick_device
from sr_lib.models.san import covariance_pool, sqrtm_eigh, sqrtm_newton_schulz
from sr_lib.provenance import environment
from sr_lib.results import write_results

Tensor = torch.Tensor
PATCH = 48  # LR training patch side (HR 96 at x2, SAN's --patch_size)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def methods(iterations: list[int]) -> dict[str, Callable[[Tensor], Tensor]]:
    """The square roots to compare, by name: ``eigh`` first (the reference), then ``ns-k``."""
    table: dict[str, Callable[[Tensor], Tensor]] = {"eigh": sqrtm_eigh}
    for k in iterations:
        table[f"ns-{k}"] = lambda cov, k=k: sqrtm_newton_schulz(cov, k)
    return table


def covariances(channels: int, batch: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``batch`` covariance matrices of random ``channels`` x 48 x 48 features (seeded, so every run uses the same)."""
    g = torch.Generator().manual_seed(channels)
    feats = torch.randn(batch, channels, PATCH, PATCH, generator=g, dtype=torch.float64)
    return covariance_pool(feats).to(device=device, dtype=dtype)


def counted_macs(fn: Callable[[Tensor], Tensor], cov: Tensor) -> int:
    """Multiply-accumulates of the matrix products of one ``fn(cov)`` (FLOPs / 2)."""
    with FlopCounterMode(display=False) as counter:
        fn(cov)
    return counter.get_total_flops() // 2


def bench_channels(channels: int, batch: int, iterations: list[int], dtype: torch.dtype, device: torch.device,
                   repeat: int, warmup: int) -> dict[str, Any]:
    """Time every method forward and forward+backward on one batch of C x C covariances."""
    cov = covariances(channels, batch, dtype, device)
    weight = torch.randn(cov.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(cov)
    fns = methods(iterations)

    def forward(fn: Callable[[Tensor], Tensor]) -> tuple[Tensor, bool]:
        with torch.no_grad():
            return fn(cov), True

    def backward(fn: Callable[[Tensor], Tensor]) -> tuple[Tensor, bool]:
        leaf = cov.clone().requires_grad_()
        (grad,) = torch.autograd.grad((fn(leaf) * weight).sum(), leaf)
        return grad, bool(torch.isfinite(grad).all())

    passes = {"forward": forward, "forward+backward": backward}
    finite: dict[str, bool] = {}
    for name, fn in fns.items():
        for label, run in passes.items():
            for _ in range(max(1, warmup)):
                _, ok = run(fn)
            finite[name] = finite.get(name, True) and ok
    times: dict[tuple[str, str], list[float]] = {(n, p): [] for n in fns for p in passes}
    for _ in range(repeat):
        for name, fn in fns.items():
            for label, run in passes.items():
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                run(fn)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times[name, label].append((time.perf_counter() - start) * 1e3)
    with torch.no_grad():
        reference = sqrtm_eigh(cov.double())
    out: dict[str, Any] = {"channels": channels, "batch": batch, "methods": {}}
    for name, fn in fns.items():
        with torch.no_grad():
            distance = torch.linalg.matrix_norm(fn(cov).double() - reference) / torch.linalg.matrix_norm(reference)
        row: dict[str, Any] = {"macs": None if name == "eigh" else counted_macs(fn, cov),
                               "relative_error_vs_eigh": float(distance.max()), "finite_gradient": finite[name]}
        for label in passes:
            median = statistics.median(times[name, label])
            row[label] = {"median_ms": median, "min_ms": min(times[name, label]), "times_ms": times[name, label],
                          "ratio_vs_eigh": median / statistics.median(times["eigh", label])}
        out["methods"][name] = row
    return out


def format_rows(result: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in result["methods"].items():
        macs = "n/a" if r["macs"] is None else f"{r['macs'] / 1e6:,.2f}"
        timing = "".join(f" {r[p]['median_ms']:10.3f} ({r[p]['ratio_vs_eigh']:5.2f})"
                         for p in ("forward", "forward+backward"))
        rows.append(f"{result['channels']:5d} {name:7s} {macs:>10s}{timing} {r['relative_error_vs_eigh']:12.2e} "
                    f"{'yes' if r['finite_gradient'] else 'NO':>7s}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, nargs="+", default=[16, 64, 256], help="matrix sizes C")
    ap.add_argument("--batch", type=int, default=16, help="matrices per call (one per image of a batch)")
    ap.add_argument("--iterations", type=int, nargs="+", default=[3, 5, 10], help="Newton-Schulz iteration counts")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--repeat", type=int, default=20, help="timed rounds")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per method and pass first")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    ap.add_argument("--json", help="write the results with provenance here (atomically)")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.batch < 1:
        ap.error("--repeat and --batch must be >= 1, --warmup >= 0")
    if min(args.channels) < 2 or min(args.iterations) < 2:
        raise ConfigError("--channels and --iterations must be >= 2 (Newton-Schulz needs at least 2 iterations)")

    device = pick_device(args.device)
    dtype = DTYPES[args.dtype]
    print(f"batch {args.batch} of C x C covariances ({PATCH}x{PATCH} positions), {args.dtype}, "
          f"device {environment(device)['device']}, torch {torch.__version__}; "
          f"{args.warmup} warm-up + {args.repeat} timed rounds, medians; ratio = method / eigh in the same pass")
    print(f"{'C':>5s} {'method':7s} {'MMACs':>10s} {'forward ms (ratio)':>19s} {'fwd+bwd ms (ratio)':>19s} "
          f"{'rel. error':>12s} {'finite grad':>7s}")
    results = []
    for c in args.channels:
        results.append(bench_channels(c, args.batch, args.iterations, dtype, device, args.repeat, args.warmup))
        print("\n".join(format_rows(results[-1])))
    if args.json:
        write_results(args.json, {
            "kind": "bench", "benchmark": "newton_schulz", "reference": "eigh", "dtype": args.dtype,
            "batch": args.batch, "positions": PATCH * PATCH, "iterations": args.iterations,
            "threads": torch.get_num_threads(), "repeat": args.repeat, "warmup": args.warmup, "results": results,
        }, device=device)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except SRLibError as exc:  # a bad size, a missing device: one line, no traceback
        raise SystemExit(f"newton_schulz: error: {exc}") from None
