"""CSNLN's premise measured on whole test sets: how often patches of the LR input recur in its own downscale.

CSNLN (Mei et al., CVPR 2020, Sec. 3.2) matches every patch of the LR feature map against the patches of its
``1/s`` downscale and copies the matches' ``s``-times larger parents; it can only gain where such matches exist.
For every image of each set, :func:`sr_lib.selfsim.cross_scale_recurrence` is run on the luma of the *LR* image
the network is given (the set's MATLAB-made ``LR_bicubic`` file, or the exact MATLAB downscale of the HR image,
as :func:`sr_lib.data.load_benchmark` provides it), with the function's defaults (recorded in the file's
``config``): its per-image statistics, cross-scale and in-scale match errors, and their means per set.
The chapter on CSNLN reads the file and re-measures a few images live; sets that are not present are listed as
missing (Urban100 is not in the offline data: ``sr-lib data fetch Urban100``).

    OMP_NUM_THREADS=1 nice python benchmarks/csnln_recurrence.py --data-dir ../shared/datasets \
        --json results/selfsim_recurrence_x2.json
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from sr_lib.color import luma
from sr_lib.data import get_info, is_present, load_benchmark
from sr_lib.errors import SRLibError
from sr_lib.results import write_results
from sr_lib.selfsim import STAT_KEYS, cross_scale_recurrence

DEFAULT_SETS = ("Set5", "Set14", "B100", "Urban100")


def measurement_config(scale: int) -> dict[str, Any]:
    """The keyword arguments of every call: :func:`cross_scale_recurrence`'s defaults at ``scale``."""
    params = inspect.signature(cross_scale_recurrence).parameters
    return {**{k: p.default for k, p in params.items() if k != "image_y"}, "scale": scale}


def set_recurrence(name: str, scale: int, data_dir: str | None) -> tuple[dict[str, Any], list[Path]]:
    """Per-image rows and per-set means for the LR images of set ``name``, and the data files read."""
    rows, files = [], []
    for pair in load_benchmark(name, scale, data_dir):
        rows.append({"image": pair.name, **cross_scale_recurrence(luma(pair.lr), **measurement_config(scale))})
        files += list(pair.files)
    summary: dict[str, Any] = {key: float(np.mean([r[key] for r in rows])) for key in STAT_KEYS}
    summary["images"] = len(rows)
    return {"rows": rows, "summary": summary}, files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--data-dir")
    ap.add_argument("--json", type=Path, help="write the results with provenance here (atomically)")
    args = ap.parse_args(argv)

    sets: dict[str, Any] = {}
    missing, files = [], []
    try:
        for name in args.sets:
            name = get_info(name).name  # an unknown name is an error, not a missing set
            if not is_present(name, args.data_dir):
                missing.append(name)
                print(f"{name}: not present, left out")
                continue
            start = time.perf_counter()
            sets[name], used = set_recurrence(name, args.scale, args.data_dir)
            files += used
            s = sets[name]["summary"]
            print(f"{name}: {s['images']} images in {time.perf_counter() - start:.0f} s; cross-scale median error "
                  f"{s['cross_scale_median']:.3f}, good matches {s['cross_scale_good']:.1%}; in-scale "
                  f"{s['in_scale_median']:.3f}, {s['in_scale_good']:.1%}", flush=True)
    except SRLibError as exc:
        print(f"csnln_recurrence: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_results(args.json, {
            "kind": "bench", "benchmark": "selfsim_recurrence", "images": "LR (luma) of each benchmark pair",
            "config": measurement_config(args.scale), "missing": missing, "sets": sets,
        }, device="cpu", data_files=files)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
