"""Time ``sr_lib.degrade.bicubic.downscale`` against a plain NumPy implementation of the same MATLAB recipe.

Both run in the same process on the same images (Set5/Set14 HR at x2/x3/x4 from ``$SR_DATA_DIR``, or a few
``skimage.data`` images when it is unset) and must agree bit for bit (and with the reference LR files when
present). The plain version lives in this file: per output pixel, a loop over its taps, vectorised only along
the other axis. Times are the best of ``--repeat`` runs over the whole set; "sr_lib" clears the weight caches
before each run (the plain version rebuilds its weights too), "warm" keeps them. The torch path (float32, CPU,
``--threads`` threads, cached weight matrices, no rounding so not compared bit for bit) is timed too.

    SR_DATA_DIR=/work/shared/datasets python benchmarks/bench_downscale.py --repeat 5
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from sr_lib.degrade import bicubic
from sr_lib.degrade.bicubic import downscale, imresize, modcrop

# ---------------------------------------------------------------------------------------------------------------
# the plain implementation


def plain_cubic(x: float) -> float:
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def plain_contributions(in_len: int, out_len: int, scale: float) -> list[list[tuple[float, int]]]:
    """For each output pixel, its (weight, 0-based clamped index) taps, MATLAB ``contributions`` one pixel at a time."""
    width = 4.0 / scale if scale < 1 else 4.0
    taps = math.ceil(width) + 2
    result = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        pixel = []
        for j in range(left, left + taps):
            w = scale * plain_cubic(scale * (u - j)) if scale < 1 else plain_cubic(u - j)
            pixel.append((w, min(max(j, 1), in_len) - 1))
        total = 0.0
        for w, _ in pixel:
            total += w
        result.append([(w / total, j) for w, j in pixel if w != 0])
    return result


def plain_resize_axis0(a: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """One uint8 pass along axis 0: out[i] = round(sum_k w_k * a[j_k]), rounded half up and clipped, per row."""
    out = np.empty((out_len,) + a.shape[1:], np.uint8)
    for i, pixel in enumerate(plain_contributions(a.shape[0], out_len, scale)):
        acc = np.zeros(a.shape[1:])
        for w, j in pixel:
            acc = acc + w * a[j].astype(np.float64)
        out[i] = np.floor(np.clip(acc, 0, 255) + 0.5)
    return out


def plain_downscale(hr: np.ndarray, s: int) -> np.ndarray:
    img = modcrop(hr, s)
    h, w = img.shape[0] // s, img.shape[1] // s
    rows = plain_resize_axis0(img, h, 1 / s)  # rows (height) first
    cols = plain_resize_axis0(np.swapaxes(rows, 0, 1), w, 1 / s)  # then columns
    return np.ascontiguousarray(np.swapaxes(cols, 0, 1))


# ---------------------------------------------------------------------------------------------------------------


def load_sets() -> dict[str, list[tuple[str, np.ndarray, Path | None]]]:
    """{set: [(name, HR uint8, LR folder or None)]}."""
    base = os.environ.get("SR_DATA_DIR")
    if base:
        sets = {}
        for name in ("Set5", "Set14"):
            hr_dir = Path(base) / name / "HR"
            files = sorted(hr_dir.glob("*.png"))
            if not files:
                raise SystemExit(f"bench_downscale: error: no PNG images in {hr_dir} (check SR_DATA_DIR)")
            sets[name] = [(p.stem, np.asarray(Image.open(p)), Path(base) / name / "LR_bicubic") for p in files]
        return sets
    import skimage.data

    images = [(n, getattr(skimage.data, n)()) for n in ("astronaut", "camera", "chelsea", "coffee")]
    return {"skimage": [(n, img, None) for n, img in images]}


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    """The shortest of ``repeat`` wall-clock times of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (numpy/scipy use one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sets = load_sets()
    threads = torch.get_num_threads()
    print(f"numpy {np.__version__}, torch {torch.__version__} ({threads} threads), best of {args.repeat}")
    header = (
        f"{'set':8} {'x':>2} {'imgs':>4} {'LR values':>10} {'plain ms':>9} {'sr_lib ms':>9} {'warm ms':>8} "
        f"{'speedup':>7} {'torch ms':>8}  bit-exact"
    )
    print(header)
    print("-" * len(header))
    totals = [0.0, 0.0]
    for set_name, images in sets.items():
        for s in (2, 3, 4):
            ours = [downscale(hr, s) for _, hr, _ in images]
            plain = [plain_downscale(hr, s) for _, hr, _ in images]
            exact = all(np.array_equal(a, b) for a, b in zip(ours, plain))
            checked = "plain"
            if images[0][2] is not None:
                refs = [np.asarray(Image.open(lr / f"X{s}" / f"{n}.png")) for n, _, lr in images]
                exact = exact and all(np.array_equal(a, r) for a, r in zip(ours, refs))
                checked = "plain+LR files"

            def run_ours_cold() -> None:
                bicubic.contributions.cache_clear()  # include building the weights, like the plain version does
                bicubic._sparse_matrix.cache_clear()
                for _, hr, _ in images:
                    downscale(hr, s)

            def run_ours_warm() -> None:
                for _, hr, _ in images:
                    downscale(hr, s)

            def run_plain() -> None:
                for _, hr, _ in images:
                    plain_downscale(hr, s)

            tensors = [torch.tensor(modcrop(hr, s), dtype=torch.float32) for _, hr, _ in images]
            tensors = [t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous() for t in tensors]  # (C, H, W)

            def run_torch() -> None:
                with torch.no_grad():
                    for t in tensors:
                        imresize(t[None], 1 / s, output_shape=(t.shape[-2] // s, t.shape[-1] // s))

            run_torch()  # build the cached matrices
            t_plain = best_of(args.repeat, run_plain)
            t_cold = best_of(args.repeat, run_ours_cold)
            t_warm = best_of(args.repeat, run_ours_warm)
            t_torch = best_of(args.repeat, run_torch)
            totals[0] += t_plain
            totals[1] += t_cold
            values = sum(o.size for o in ours)
            print(f"{set_name:8} {s:>2} {len(images):>4} {values:>10} {t_plain * 1e3:>9.1f} {t_cold * 1e3:>9.1f} "
                  f"{t_warm * 1e3:>8.1f} {t_plain / t_cold:>6.1f}x {t_torch * 1e3:>8.1f}  "
                  f"{'yes' if exact else 'NO'} ({checked})")
            if not exact:
                raise SystemExit(f"{set_name} x{s}: outputs are not bit-exact")
    print(f"total: plain {totals[0]:.3f} s, sr_lib {totals[1]:.3f} s, speedup {totals[0] / totals[1]:.1f}x")


if __name__ == "__main__":
    main()
