"""Quick SRCNN training on CPU: the curve of Set5 x2 PSNR against wall time (the `srcnn/quick` preset).

Not a test: it measures time. The reference measured in the same run is the bicubic baseline (the iteration-0
row is the untrained network; the bicubic PSNR is printed next to it), and the result — curve, config, commit,
data hashes, device — is written atomically to a JSON results file that the SRCNN chapter reads.

    python benchmarks/bench_train_srcnn.py --data-dir ../shared/datasets --out results/srcnn_quick_x2.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sr_lib.evaluate import evaluate_model
from sr_lib.imageio import atomic_write_json
from sr_lib.provenance import environment, file_hashes
from sr_lib.train import PRESETS, train, with_overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--out", type=Path, default=Path("results/srcnn_quick_x2.json"))
    ap.add_argument("--checkpoint", type=Path, default=Path("results/srcnn_quick_x2.pt"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = with_overrides(PRESETS["srcnn/quick"], iterations=args.iterations)
    bicubic = evaluate_model("bicubic", args.scale, [config.val_set], data_dir=args.data_dir)
    start = time.perf_counter()
    _, result = train("srcnn", args.scale, config, args.data_dir, args.checkpoint, progress=False, log=print)
    wall = time.perf_counter() - start
    bic = bicubic["datasets"][config.val_set]["psnr"]
    print(f"\n{'iteration':>9s} {'seconds':>8s} {'loss':>10s} {'PSNR':>7s} {'vs bicubic':>10s}")
    for h in result.history:
        print(f"{h['iteration']:9d} {h['seconds']:8.1f} {h['loss']:10.3e} {h['val_psnr']:7.2f} {h['val_psnr'] - bic:+10.2f}")
    print(f"bicubic {bic:.2f} dB (standard protocol); final {result.final_psnr:.2f} dB after {wall:.0f} s "
          f"({torch.get_num_threads()} threads)")
    atomic_write_json(args.out, {
        "model": "srcnn", "scale": args.scale, "preset": "quick", "config": result.config,
        "history": result.history, "final_psnr": result.final_psnr, "bicubic_psnr": bic,
        "protocol": "standard", "wall_time_s": round(wall, 1),
        "provenance": {**environment("cpu"), "data_sha256": bicubic["provenance"]["data_sha256"],
                       "checkpoint_sha256": file_hashes([args.checkpoint])[str(args.checkpoint)]},
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
