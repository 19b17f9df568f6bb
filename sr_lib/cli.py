"""The ``sr-lib`` command line. Every failure is one ``sr-lib: error: ...`` line and exit status 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, SRLibError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sr-lib", description="Super-resolution models, data and the standard evaluation protocol.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("models", help="list the registered models and their scales")

    e = sub.add_parser("eval", help="PSNR/SSIM of a model on benchmark sets (Y channel, MATLAB protocol)")
    e.add_argument("--model", required=True)
    e.add_argument("--scale", type=_positive_int, required=True)
    e.add_argument("--dataset", action="append", required=True, help="repeatable: Set5, Set14, B100, Demo, ...")
    e.add_argument("--weights", type=Path, help="checkpoint: official .mat / .pth / our .pt")
    e.add_argument("--data-dir", type=Path)
    e.add_argument("--protocol", choices=["standard", "matlab-y", "float"],
                   help="where the pipeline rounds: standard (MATLAB uint8 LR files; default), matlab-y "
                        "(SRCNN/VDSR MATLAB scripts: LR never rounded, SR uint8), float (nothing rounded)")
    e.add_argument("--lr-precision", choices=["uint8", "float"],
                   help="shorthand: uint8 = --protocol standard, float = --protocol float")
    e.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (the '+' models)")
    e.add_argument("--niqe", action="store_true", help="also measure NIQE of the SR images (RGB models; lower is "
                   "more natural)")
    e.add_argument("--tile", type=_positive_int, help="run on LR tiles of this size (bounded memory)")
    e.add_argument("--tile-overlap", type=int, default=16, help="context pixels around each tile (default 16)")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", type=Path, help="write the results (with provenance) to this file")

    u = sub.add_parser("upscale", help="super-resolve your own images (PNG/JPEG/TIFF; grey, 16-bit, alpha, palette)")
    u.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders of images")
    u.add_argument("--model", required=True)
    u.add_argument("--scale", type=_positive_int, required=True)
    u.add_argument("--weights", type=Path, help="checkpoint (default: the published weights, see 'sr-lib weights')")
    u.add_argument("--weights-dir", type=Path, help="where published weights are looked up (default $SR_WEIGHTS_DIR)")
    u.add_argument("--out", type=Path, default=Path("upscaled"),
                   help="output folder (default ./upscaled); files are named <stem>_x<S>_<model>.png")
    u.add_argument("--self-ensemble", action="store_true", help="average the 8 flips/rotations (the '+' models)")
    u.add_argument("--tile", type=_positive_int, help="run the network on tiles of this many input pixels")
    u.add_argument("--tile-overlap", type=int, default=16, help="context pixels around each tile (default 16)")
    u.add_argument("--overwrite", action="store_true", help="replace existing output files")
    u.add_argument("--device", default="auto")

    d = sub.add_parser("downscale", help="modcrop + MATLAB-exact bicubic downscale of every image in a folder")
    d.add_argument("src", type=Path)
    d.add_argument("dst", type=Path)
    d.add_argument("--scale", type=_positive_int, required=True)
    d.add_argument("--kernel", choices=["bicubic", "gaussian8"], default="bicubic",
                   help="gaussian8: blur with each of the 8 benchmark Gaussians first (DAN/IKC protocol)")

    data = sub.add_parser("data", help="list, verify or fetch data sets")
    data.add_argument("action", choices=["list", "verify", "fetch"])
    data.add_argument("names", nargs="*")
    data.add_argument("--data-dir", type=Path)
    data.add_argument("--dest", type=Path, help="fetch: where to put the files (default: the cache)")

    w = sub.add_parser("weights", help="list, locate or download published pretrained weights (sr_lib.hub)")
    w.add_argument("action", choices=["list", "fetch", "path"])
    w.add_argument("model", nargs="?", help="registry name (list: optional filter)")
    w.add_argument("--scale", type=_positive_int)
    w.add_argument("--variant", help="pick one of several files for the same model and scale (e.g. ImageNet)")
    w.add_argument("--weights-dir", type=Path, help="searched before $SR_WEIGHTS_DIR and the cache")
    w.add_argument("--dest", type=Path, help="fetch: download into this folder (default: the cache)")
    w.add_argument("--allow-unverified", action="store_true", help="fetch: accept files without a published hash")
    w.add_argument("--aux", action="store_true", help="list/fetch: auxiliary files too (DAN's PCA matrices)")

    t = sub.add_parser("train", help="train a model with a named recipe (resumable; DDP under torchrun)")
    t.add_argument("--model", required=True, help="registry name, or srgan (SRResNet with the GAN update)")
    t.add_argument("--scale", type=_positive_int, required=True)
    t.add_argument("--preset", choices=["quick", "paper"], default="quick")
    t.add_argument("--iters", type=_positive_int, help="override the recipe's number of iterations")
    t.add_argument("--seed", type=int, help="override the recipe's seed (model init and every batch)")
    t.add_argument("--out", type=Path, help="run folder (default runs/<model>_x<scale>_<preset>_s<seed>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="repeatable: any recipe field (lr=2e-4, batch_size=32) or model option (model.n_feats=32)")
    t.add_argument("--data-dir", type=Path)
    t.add_argument("--device", default="auto")

    x = sub.add_parser("experiments", help="the chapters' multi-seed studies and the equal-compute league")
    x.add_argument("action", choices=["list", "run"], help="list: the studies and league entries; run: train and "
                   "evaluate every missing seed (interrupted runs resume)")
    x.add_argument("--study", action="append", default=[], help="repeatable: a study name (see list)")
    x.add_argument("--all-studies", action="store_true")
    x.add_argument("--league", action="store_true", help="the league entries")
    x.add_argument("--root", type=Path, default=Path("results"), help="results root (default results/)")
    x.add_argument("--data-dir", type=Path)

    r = sub.add_parser("repro", help="train + evaluate any family through the parametrised reproduction notebook")
    r.add_argument("--model", required=True)
    r.add_argument("--scale", type=_positive_int, required=True)
    r.add_argument("--preset", choices=["quick", "paper"], default="quick")
    r.add_argument("--iters", type=_positive_int, help="override the recipe's iterations (e.g. a smoke run)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--weights-dir", type=Path, help="where official weights are looked up (default $SR_WEIGHTS_DIR)")
    r.add_argument("--data-dir", type=Path)
    r.add_argument("--device", default="auto")
    r.add_argument("--output", type=Path, required=True, help="folder for the executed notebook and the run folder")
    st = sub.add_parser("student", help="the student edition of the book's notebooks: solutions removed, exercises kept "
                        "and numbered, outputs cleared")
    st.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: those of _toc.yml under --root)")
    st.add_argument("--root", type=Path, default=Path("."), help="the book's root folder (default .)")
    st.add_argument("--out", type=Path, required=True, help="folder for the student notebooks")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except SRLibError as exc:
        print(f"sr-lib: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sr-lib: interrupted", file=sys.stderr)
        return 130


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import get_model_entry, list_models

    for name in list_models():
        e = get_model_entry(name)
        scales = ",".join(f"x{s}" for s in e.scales)
        print(f"{name:16s} {scales:14s} {e.input.color:3s} {'pre-upsampled' if e.input.pre_upsample else 'LR input':13s} {e.description or e.paper}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_model
    from .imageio import atomic_write_json


    implied = {"uint8": "standard", "float": "float", None: None}[args.lr_precision]
    if args.protocol and implied and args.protocol != implied:
        raise ConfigError(f"--lr-precision {args.lr_precision} contradicts --protocol {args.protocol}")
    protocol = args.protocol or implied or "standard"
    res = evaluate_model(args.model, args.scale, args.dataset, args.weights, args.data_dir, protocol, args.device,
                         self_ensemble=args.self_ensemble, tile=args.tile, tile_overlap=args.tile_overlap,
                         niqe=args.niqe)
    niqe_head = f" {'NIQE':>6s}" if args.niqe else ""
    print(f"{'dataset':10s} {'images':>6s} {'PSNR':>8s} {'SSIM':>7s}{niqe_head}   model {args.model} x{args.scale}, "
          f"protocol {protocol}")
    for ds, r in res["datasets"].items():
        niqe = f" {r['niqe']:6.3f}" if args.niqe else ""
        print(f"{ds:10s} {r['images']:6d} {r['psnr']:8.2f} {r['ssim']:7.4f}{niqe}")
    if args.json:
        atomic_write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from .upscale import upscale_files

    written = upscale_files(args.inputs, args.model, args.scale, weights=args.weights, weights_dir=args.weights_dir,
                            out_dir=args.out, self_ensemble=args.self_ensemble, tile=args.tile,
                            tile_overlap=args.tile_overlap, device=args.device, overwrite=args.overwrite,
                            progress=True, log=lambda note: print(f"sr-lib: note: {note}", file=sys.stderr))
    print(f"wrote {len(written)} image{'s' if len(written) != 1 else ''} to {args.out}")
    return 0


def _cmd_downscale(args: argparse.Namespace) -> int:
    from .degrade.bicubic import downscale
    from .errors import DataError
    from .imageio import IMAGE_SUFFIXES, read_image, write_image

    if not args.src.is_dir():
        raise DataError(f"source folder not found: {args.src}")
    files = sorted(p for p in args.src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images in {args.src}")
    images = {p.stem: read_image(p) for p in files}  # read and check everything before writing anything
    for stem, hr in images.items():
        if min(hr.shape[:2]) < args.scale:
            raise DataError(f"{stem}: image {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {args.scale}")
    if args.kernel == "gaussian8":
        from .blind import GAUSSIAN8_RESIZE, sigma_key
        from .degrade.kernels import blur_downscale_uint8, gaussian8_kernels

        kernels = gaussian8_kernels(args.scale)
        for sigma, kernel in kernels:
            out = args.dst / f"sig{sigma_key(sigma)}"
            for stem, hr in images.items():
                write_image(out / f"{stem}.png", blur_downscale_uint8(hr, kernel, args.scale, resize=GAUSSIAN8_RESIZE))
        print(f"wrote {len(images)} x {len(kernels)} images under {args.dst}")
        return 0
    for stem, hr in images.items():
        write_image(args.dst / f"{stem}.png", downscale(hr, args.scale))
    print(f"wrote {len(images)} images to {args.dst}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from . import data
    from .errors import DataError

    names = args.names or [n for n, i in data.registry().items() if i.pinned]
    if args.action == "list":
        for name in args.names or data.registry():
            info = data.get_info(name)
            try:
                where = str(data.resolve_dataset(name, args.data_dir)) if info.name != "Demo" else "embedded"
            except SRLibError:
                where = "not found locally"
            pinned = f"{len(info.files)} pinned files" if info.pinned else "unpinned"
            print(f"{info.name:9s} {info.role:5s} {pinned:17s} {where}   {info.description}")
        return 0
    if args.action == "verify":
        bad = checked = 0
        for name in names:
            if not args.names and not data.is_present(name, args.data_dir):
                print(f"{name}: not found locally, skipped")  # only sets named explicitly must be present
                continue
            n, problems = data.verify(name, args.data_dir)
            for line in problems:
                print(f"{name}: {line}", file=sys.stderr)
            bad += len(problems)
            checked += 1
            print(f"{name}: {n - len(problems)}/{n} files ok")
        if not checked:
            raise DataError("no pinned data set found locally; run 'sr-lib data fetch NAME' or pass --data-dir")
        return 1 if bad else 0
    failed = False
    for name in names:  # a set that cannot be fetched does not stop the others: one error line each, exit 2 at the end
        print(f"{name}: fetching {len(data.get_info(name).files)} pinned files ...", flush=True)
        try:
            print(f"{name}: {data.fetch(name, args.dest)}")
        except DataError as exc:
            print(f"sr-lib: error: {name}: {exc}", file=sys.stderr, flush=True)
            failed = True
    return 2 if failed else 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from . import hub

    if args.action == "list":
        for r in hub.availability(args.weights_dir, kind=None if args.aux else "model"):
            if args.model and r["model"] != args.model:
                continue
            scale = f"x{r['scale']}" if r["scale"] else "any"
            print(f"{r['model'] or '-':14s} {scale:4s} {r['variant'] or '-':17s} {r['format']:13s} "
                  f"{r['download']:16s} {r['local']:27s} {r['where']}")
        return 0
    if not args.model or args.scale is None:
        raise ConfigError(f"'weights {args.action}' needs a model and --scale, e.g. "
                          f"'sr-lib weights {args.action} srcnn --scale 3'")
    if args.action == "path":
        print(hub.resolve_weights(args.model, args.scale, args.weights_dir, variant=args.variant))
        return 0
    if args.dest:
        path = hub.fetch_weights(args.model, args.scale, args.dest, variant=args.variant,
                                 allow_unverified=args.allow_unverified)
    else:  # a verified local copy is enough; otherwise download into the cache
        path = hub.resolve_weights(args.model, args.scale, args.weights_dir, download=True, variant=args.variant,
                                   allow_unverified=args.allow_unverified)
    print(path)
    if args.aux:
        for entry in hub.list_weights(args.model, kind="aux"):
            print(hub.download_entry(entry, args.dest) if args.dest else hub.resolve_entry(entry, args.weights_dir, True))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import get_recipe, train, with_settings

    overrides = {k: v for k, v in (("iters", args.iters), ("seed", args.seed)) if v is not None}
    recipe = with_settings(get_recipe(args.model, args.preset, args.scale, **overrides), args.set).check()
    out = args.out or Path("runs") / f"{recipe.model}_x{recipe.scale}_{recipe.preset}_s{recipe.seed}"
    run = train(recipe, out, resume=args.resume, device=args.device, data_dir=args.data_dir, log=print)
    if run.result.get("status") == "diverged":
        print(f"sr-lib: error: the run diverged (inf/NaN loss) at iteration {run.result['final']['iteration']}; "
              f"run folder {out}", file=sys.stderr)
        return 1
    if run.result:  # rank 0
        final = run.result["final"]
        print(f"final {final['val_set']} x{recipe.scale}: {final['val_psnr']:.2f} dB (bicubic "
              f"{final['bicubic_psnr']:.2f}) after {final['iteration']} iterations, {final['seconds']:.0f} s; "
              f"run folder {out}")
    return 0


def _cmd_experiments(args: argparse.Namespace) -> int:
    from .train import studies

    names = list(studies.STUDIES) if args.all_studies else args.study
    if args.action == "list":
        for s in studies.STUDIES.values():
            print(f"{s.name:20s} {s.chapter:8s} {', '.join(s.arms)}: {s.claim}")
        for arm in studies.experiment_arms(league=True):
            print(f"{arm.name:20s} league   {arm.recipe.iters} iterations x2, seeds {studies.SEEDS}")
        return 0
    if not names and not args.league:
        raise ConfigError("nothing to run: give --study NAME, --all-studies or --league")
    studies.run_experiments(names, args.league, args.root, args.data_dir)
    return 0


def _cmd_repro(args: argparse.Namespace) -> int:
    from .repro import run_reproduction

    out = run_reproduction(args.model, args.scale, args.preset, args.output, iters=args.iters, seed=args.seed,
                           data_dir=args.data_dir, weights_dir=args.weights_dir, device=args.device)
    print(json.dumps({k: str(v) for k, v in out.items()}, indent=2))
    return 0


def _cmd_student(args: argparse.Namespace) -> int:
    from .classroom import toc_notebooks, write_student_edition

    for path, ed in write_student_edition(args.notebooks or toc_notebooks(args.root), args.out):
        print(f"{path}: {ed.exercises} exercises, {ed.solutions} solutions removed ({ed.removed_code_cells} code cells)")
    return 0


_COMMANDS = {"models": _cmd_models, "eval": _cmd_eval, "upscale": _cmd_upscale, "downscale": _cmd_downscale,
             "data": _cmd_data, "weights": _cmd_weights, "train": _cmd_train, "experiments": _cmd_experiments, "repro": _cmd_repro,
             "student": _cmd_student}

if __name__ == "__main__":
    sys.exit(main())
