"""The book's multi-seed experiments: the papers' claims at small scale, and the equal-compute league.

An :class:`Arm` is one recipe trained with each of several seeds into ``<root>/<group>/<arm>/s<seed>/`` (the layout of
``sr-lib train``: ``last.pt``, ``result.json``, ``log.csv``) and then evaluated on test sets
(``eval_x<scale>.json``, written with provenance by :func:`sr_lib.results.write_results`). A :class:`Study` is one
claim of a paper: a few arms compared on the same metric (chapters 3 and 4 explain each). The league
(:data:`LEAGUE_BUDGET_MACS`) trains every chapter's family, in its small configuration, for the same number of
training multiply-accumulates on the same data with the same seeds, so that the budget does not depend on the machine.

``run_experiments`` trains and evaluates whatever is missing, resuming interrupted runs exactly (``make studies``,
``make league``); everything else here only reads the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from ..errors import ConfigError
from ..provenance import sha256_file
from ..results import ResultsError, read_results, write_results
from ..models.msrn import PLAIN_BLOCKS_PER_MSRB
from .recipes import Recipe, get_recipe

#: Seeds of every study and league entry.
SEEDS: tuple[int, ...] = (0, 1, 2)
#: Statuses of a finished training run (a diverged run is finished: it is reported, not retried).
FINISHED = ("complete", "diverged")


@dataclass(frozen=True)
class Arm:
    """One configuration of a study (or one league entry), trained once per seed."""

    name: str  # folder name, unique across groups
    label: str  # what tables and plots call it
    recipe: Recipe  # trained with ``seed`` replaced
    group: str = "studies"  # "studies" or "league": the folder under the results root
    eval_scales: tuple[int, ...] = ()  # scales evaluated after training; () = the recipe's scale
    eval_sets: tuple[str, ...] = ("Set5", "Set14")
    init_arm: str | None = None  # the same seed's final weights of this arm initialise the run (EDSR x4 from x2)
    init_skip: tuple[str, ...] = ()  # parameters not taken from them (``Recipe.init_skip``)
    self_ensemble: bool = False  # also evaluate the x8 geometric self-ensemble (EDSR+)
    niqe: bool = False  # also measure NIQE of the SR images (chapter 8's perception axis)
    # Network interpolation (chapter 8): not trained; evaluated with (1 - alpha) * weights of the first arm + alpha *
    # weights of the second (same seed, same architecture).
    interpolate: tuple[str, str, float] | None = None
    gaussian8: tuple[str, ...] = ()  # also evaluate on Gaussian8 in these sr_lib.blind modes (chapter 9)
    unrolled_steps: int = 0  # DAN: also record PSNR and the estimated kernel after each of this many unrolled steps

    @property
    def scales(self) -> tuple[int, ...]:
        return self.eval_scales or (self.recipe.scale,)


@dataclass(frozen=True)
class Study:
    """A paper's claim, tested by comparing ``arms`` (all trained with :data:`SEEDS`)."""

    name: str
    chapter: str
    claim: str
    arms: tuple[str, ...]


# ------------------------------------------------------------------------------------------------ chapter 3: VDSR
# A narrow VDSR (32 channels) trained on the paper's 291 images (T91 + BSD200), 41x41 sub-images, batch 16, with the
# quick preset's optimiser (Adam 1e-3, halved at 75%); the clipping study uses the paper's own optimiser instead.
_DATA = dict(train_sets=("T91", "BSD200"), val_every=200, log_every=50)
_VDSR = dict(_DATA, hr_patch=41, iters=600, lr_milestones=(450,))


def _vdsr(depth: int = 10, scale: int = 2, options: dict[str, Any] | None = None, **overrides: Any) -> Recipe:
    options = {"depth": depth, "n_feats": 32, **(options or {})}
    return get_recipe("vdsr", "quick", scale, **{**_VDSR, "model_options": tuple(sorted(options.items())),
                                                 **overrides})


_VDSR_SGD = dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, loss="euclidean", clip_norm=None,
                 iters=300, lr_milestones=())  # the paper's optimiser, loss and learning rate [V Training Params]

# ----------------------------------------------------------------------------------------- chapter 4: EDSR, MDSR
# EDSR-baseline shrunk to 4 blocks x 32 channels (the quick preset), T91 + BSD200, 48x48 HR patches, Adam 1e-3 halved
# at 75%.
_EDSR = dict(_DATA, hr_patch=48, iters=600, lr_milestones=(450,))


def _edsr(scale: int = 2, family: str = "edsr-baseline", options: dict[str, Any] | None = None,
          **overrides: Any) -> Recipe:
    options = {"n_feats": 32, "n_resblocks": 4, **(options or {})}
    return get_recipe(family, "quick", scale, **{**_EDSR, "model_options": tuple(sorted(options.items())),
                                                **overrides})


def _wide(res_scale: float) -> Recipe:  # 8 blocks x 64 channels at 50x the paper's learning rate
    return _edsr(family="edsr", options={"n_feats": 64, "n_resblocks": 8, "res_scale": res_scale}, lr=5e-3, iters=300,
                 lr_milestones=())


def _mdsr_equal_compute() -> Recipe:
    """MDSR (the quick size) on x2+x3+x4 for the training MACs of the three single-scale EDSR runs together."""
    from .loop import training_macs_per_iteration

    mdsr = get_recipe("mdsr", "quick", 2, **{**_EDSR, "model_options": (("n_feats", 32), ("n_resblocks", 4))})
    singles = sum(training_macs_per_iteration(_edsr(s)) * _EDSR["iters"] for s in (2, 3, 4))
    iters = round(singles / training_macs_per_iteration(mdsr))
    return replace(mdsr, iters=iters, lr_milestones=(iters * 3 // 4,))


# ------------------------------------------------------------------------------ chapters 5-7: attention, multi-scale
# Each family's quick model (16 channels) at x2 on T91 + BSD200, 48x48 HR patches, 600 updates of batch 16, Adam 1e-3
# halved at 75% (as chapter 4); the RCAN ablation uses 3 groups x 3 blocks so that the skips have something to skip.
_RCAN = {"n_feats": 16, "n_resgroups": 3, "n_resblocks": 3, "reduction": 4}


def _small(family: str, options: dict[str, Any] | None = None, **overrides: Any) -> Recipe:
    quick = get_recipe(family, "quick", 2)
    options = {**quick.options, **(options or {})}
    return get_recipe(family, "quick", 2, **{**_DATA, "hr_patch": quick.hr_patch, "iters": 600,
                                             "lr_milestones": (450,), "model_options": tuple(sorted(options.items())),
                                             **overrides})


_CSNLN_LONGER = dict(iters=1500, lr_milestones=(1125,))


def _equal_compute(family: str, reference: Recipe) -> Recipe:
    """``family``'s study recipe trained for as many multiply-accumulates as ``reference`` (CMSC vs MSRN)."""
    from .loop import training_macs_per_iteration

    iters = round(reference.iters * training_macs_per_iteration(reference) / training_macs_per_iteration(
        _small(family)))
    return _small(family, iters=iters, lr_milestones=(iters * 3 // 4,))


# ---------------------------------------------------------------------------------------------- chapter 8: SRGAN
# SRResNet (the quick size, 32 channels x 4 blocks) at x4 on T91 + BSD200, 64x64 HR patches: first trained with the
# pixel MSE (SRResNet); then, from those weights, with MSE + w * adversarial loss (SRGAN's alternating update with a
# *pixel* content loss: the VGG54 loss needs a 548 MiB download, so these runs do not use it). SRResNet: Adam 1e-3
# halved at 75%; the adversarial fine-tune at the paper's 1e-4 for both networks (SRGAN Sec. 3.2; at 1e-3 the first
# fine-tunes broke down: Set14 19-24 dB with NIQE above 40 at weights 1e-3 and 1e-1), divided by 10 at 75%.
# Measured on Set14 and B100 with PSNR (distortion) and NIQE (perception).
SRGAN_ADV_WEIGHTS: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
SRGAN_INTERPOLATION: tuple[float, ...] = (0.25, 0.5, 0.75)  # alpha 0 and 1 are the two trained arms themselves
# The GAN end of the interpolation: the paper's weight 1e-3 (SRGAN Sec. 2.2.3), as ESRGAN interpolates towards its
# GAN generator. (It was the strongest weight, 1e-1, until seed 0 of that arm came out collapsed at 13 dB: a path
# towards a broken generator measures the breakdown, not the trade-off.)
SRGAN_INTERPOLATION_END = 1e-3
_SRGAN_SETS = ("Set14", "B100")


def _srresnet_mse() -> Recipe:
    return get_recipe("srresnet", "quick", 4, **{**_DATA, "loss": "mse", "iters": 1200, "lr_milestones": (900,)})


def _srgan(adv_weight: float) -> Recipe:
    return get_recipe("srgan", "quick", 4, **{**_DATA, "content_loss": "mse", "loss": "mse", "lr": 1e-4,
                                              "adv_weight": adv_weight, "iters": 800, "lr_milestones": (600,)})


def _srgan_arms() -> list[Arm]:
    arms = [Arm("srresnet-mse", "SRResNet (MSE)", _srresnet_mse(), eval_sets=_SRGAN_SETS, niqe=True)]
    arms += [Arm(f"srgan-adv{w:g}", f"SRGAN, MSE + {w:g} adversarial", _srgan(w), eval_sets=_SRGAN_SETS, niqe=True,
                 init_arm="srresnet-mse") for w in SRGAN_ADV_WEIGHTS]
    gan = f"srgan-adv{SRGAN_INTERPOLATION_END:g}"
    arms += [Arm(f"srgan-interp{a:g}", f"interpolation, alpha {a:g}", _srgan(SRGAN_INTERPOLATION_END),
                 eval_sets=_SRGAN_SETS, niqe=True, interpolate=("srresnet-mse", gan, a))
             for a in SRGAN_INTERPOLATION]
    return arms


# ------------------------------------------------------------------------------------------------ chapter 9: DAN
# DANv1 (the quick size: 16 channels, 4 blocks, 4 unrolled steps) at x2 on T91 + BSD200, 32x32 HR patches: trained
# on random isotropic blurs (sigma uniform in [0.2, 2.0], the paper's x2 range, papers/dan.md), or on practically
# unblurred LR (sigma 0.2: the 21x21 kernel puts 1 - 1.5e-5 of its weight on the centre tap), same budget. Evaluated
# blind on Gaussian8 Set5/Set14; the blind arm also with its Restorer given the true kernel (oracle).
_DAN_SETS = ("Set5", "Set14")
DAN_STEPS = 8  # PSNR and kernel after each of 8 unrolled steps: twice the 4 trained


def _dan(blur_sigma: tuple[float, float]) -> Recipe:
    return get_recipe("dan", "quick", 2, **{**_DATA, "blur_sigma": blur_sigma, "iters": 1000,
                                            "lr_milestones": (750,)})


_ARMS: list[Arm] = [
    Arm("vdsr-d5", "5 layers", _vdsr(5)),
    Arm("vdsr-d10", "10 layers", _vdsr(10)),
    Arm("vdsr-d20", "20 layers", _vdsr(20)),
    Arm("vdsr-d10-plain", "10 layers, non-residual", _vdsr(10, options={"residual": False})),
    Arm("vdsr-d10-x3", "10 layers, trained x3", _vdsr(10, 3)),
    Arm("vdsr-d10-x4", "10 layers, trained x4", _vdsr(10, 4)),
    Arm("vdsr-d10-x234", "10 layers, trained x2+x3+x4", _vdsr(10, scales=(2, 3, 4), multiscale="item"),
        eval_scales=(2, 3, 4)),
    Arm("vdsr-sgd-clip", "SGD lr 0.1, adjustable clipping", _vdsr(10, **_VDSR_SGD, clip_adjustable=0.4)),
    Arm("vdsr-sgd-noclip", "SGD lr 0.1, no clipping", _vdsr(10, **_VDSR_SGD, clip_adjustable=None)),
    Arm("edsr-x2", "no BN, L1", _edsr(), self_ensemble=True),
    Arm("edsr-x2-bn", "with BN", _edsr(options={"bn": True})),
    Arm("edsr-x2-l2", "L2 loss", _edsr(loss="mse")),
    Arm("edsr-x3", "single-scale x3", _edsr(3)),
    Arm("edsr-x4", "x4 from scratch", _edsr(4)),
    Arm("edsr-x4-from-x2", "x4 from the x2 weights", _edsr(4), init_arm="edsr-x2",
        init_skip=("tail.0.2",)),  # the second x2 upsampling stage is new; everything else starts from x2
    Arm("mdsr-x234", "MDSR, x2+x3+x4", _mdsr_equal_compute(), eval_scales=(2, 3, 4)),
    Arm("edsr-wide-rs1", "8 x 64, no residual scaling", _wide(1.0)),
    Arm("edsr-wide-rs0.1", "8 x 64, residual scaling 0.1", _wide(0.1)),
    Arm("rcan-full", "RCAN: long + short skips, channel attention", _small("rcan", _RCAN)),
    Arm("rcan-no-lsc", "without the long skip", _small("rcan", {**_RCAN, "long_skip": False})),
    Arm("rcan-no-ssc", "without the short skips", _small("rcan", {**_RCAN, "short_skip": False})),
    Arm("rcan-no-ca", "without channel attention", _small("rcan", {**_RCAN, "channel_attention": False})),
    Arm("rcan-none", "no skips, no attention", _small("rcan", {**_RCAN, "long_skip": False, "short_skip": False,
                                                               "channel_attention": False})),
    Arm("san-second-order", "SAN: second-order attention", _small("san")),
    Arm("san-first-order", "SAN with first-order attention", _small("san", {"second_order": False})),
    # CSNLN has no global skip: at 600 updates it is still below bicubic (measured), so it trains 2.5x longer
    Arm("csnln-cross-scale", "CSNLN: in-scale + cross-scale attention", _small("csnln", **_CSNLN_LONGER)),
    Arm("csnln-in-scale", "CSNLN: two in-scale attentions", _small("csnln", {"cross_scale": False}, **_CSNLN_LONGER)),
    Arm("msrn-msrb", "MSRN: multi-scale blocks, hierarchical fusion", _small("msrn")),
    Arm("msrn-plain", "plain residual blocks, same weights", _small("msrn", {"plain_blocks": PLAIN_BLOCKS_PER_MSRB})),
    Arm("msrn-no-hff", "without hierarchical fusion", _small("msrn", {"hierarchical_fusion": False})),
    Arm("cmsc-equal-compute", "CMSC, MSRN's training compute", _equal_compute("cmsc", _small("msrn"))),
    *_srgan_arms(),
    Arm("dan-blind", "DAN, trained on random blurs", _dan((0.2, 2.0)), eval_sets=_DAN_SETS,
        gaussian8=("blind", "oracle"), unrolled_steps=DAN_STEPS),
    Arm("dan-no-blur", "DAN, trained without blur", _dan((0.2, 0.2)), eval_sets=_DAN_SETS, gaussian8=("blind",)),
]

STUDIES: dict[str, Study] = {s.name: s for s in [
    Study("vdsr-residual", "03_vdsr", "Residual learning converges much faster than predicting the HR image "
          "(VDSR Sec. 4.2, Fig. 4).", ("vdsr-d10", "vdsr-d10-plain")),
    Study("vdsr-depth", "03_vdsr", "Deeper is better: PSNR grows with depth (VDSR Sec. 4.1, Fig. 3).",
          ("vdsr-d5", "vdsr-d10", "vdsr-d20")),
    Study("vdsr-multiscale", "03_vdsr", "One network trained on x2, x3 and x4 matches the single-scale networks "
          "(VDSR Sec. 4.3, Table 2).", ("vdsr-d10-x234", "vdsr-d10", "vdsr-d10-x3", "vdsr-d10-x4")),
    Study("vdsr-clipping", "03_vdsr", "Adjustable gradient clipping lets a learning rate of 0.1 train without "
          "exploding gradients (VDSR Sec. 3.2).", ("vdsr-sgd-clip", "vdsr-sgd-noclip")),
    Study("edsr-bn", "04_edsr", "Removing batch normalisation improves the residual network (EDSR Sec. 3.1).",
          ("edsr-x2", "edsr-x2-bn")),
    Study("edsr-loss", "04_edsr", "L1 trains better than L2 (EDSR Sec. 4.2).", ("edsr-x2", "edsr-x2-l2")),
    Study("edsr-res-scale", "04_edsr", "Residual scaling (0.1) stabilises training of a wide body (EDSR Sec. 3.1).",
          ("edsr-wide-rs1", "edsr-wide-rs0.1")),
    Study("edsr-pretrain", "04_edsr", "x4 trains faster and better from the x2 weights (EDSR Sec. 3.2, Fig. 4).",
          ("edsr-x4-from-x2", "edsr-x4")),
    Study("mdsr-vs-single", "04_edsr", "One MDSR matches three single-scale models at the same training compute "
          "(EDSR Sec. 3.3, Table 3).", ("mdsr-x234", "edsr-x2", "edsr-x3", "edsr-x4")),
    Study("edsr-self-ensemble", "04_edsr", "The x8 geometric self-ensemble adds PSNR at test time (EDSR Sec. 4.3).",
          ("edsr-x2",)),
    Study("rcan-ablation", "05_rcan", "The long skip, the short skips and channel attention each add PSNR "
          "(RCAN Sec. 4.2, Table 1).", ("rcan-full", "rcan-no-lsc", "rcan-no-ssc", "rcan-no-ca", "rcan-none")),
    Study("san-second-order", "05_rcan", "Second-order channel attention beats first-order attention of the same "
          "size (SAN Sec. 5.2, Table 1).", ("san-second-order", "san-first-order")),
    Study("csnln-cross-scale", "06_csnln", "The cross-scale attention branch adds PSNR over in-scale attention "
          "(CSNLN Sec. 4.3, Table 1).", ("csnln-cross-scale", "csnln-in-scale")),
    Study("msrn-msrb", "07_msrn", "Multi-scale residual blocks beat plain residual blocks of the same size "
          "(MSRN, the MSRB's motivation).", ("msrn-msrb", "msrn-plain")),
    Study("msrn-hff", "07_msrn", "Hierarchical feature fusion of every block's output adds PSNR (MSRN, HFFS).",
          ("msrn-msrb", "msrn-no-hff")),
    Study("cmsc-vs-msrn", "07_msrn", "Cascaded multi-scale cross modules beat MSRN at the same training compute "
          "(CMSC, abstract).", ("cmsc-equal-compute", "msrn-msrb")),
    Study("dan-blind", "09_dan", "A network trained on one degradation fails on others; DAN's alternating kernel "
          "estimation recovers most of the non-blind (true-kernel) PSNR on Gaussian8 (DAN Sec. 4, Table 1).",
          ("dan-blind", "dan-no-blur")),
    Study("srgan-perception-distortion", "08_srgan", "The adversarial loss trades PSNR for perceptual quality: the "
          "GAN generators lose PSNR and gain (lower) NIQE against SRResNet (SRGAN Sec. 3.4, Table 2; Blau and "
          "Michaeli 2018).", ("srresnet-mse", *(f"srgan-adv{w:g}" for w in SRGAN_ADV_WEIGHTS),
                              *(f"srgan-interp{a:g}" for a in SRGAN_INTERPOLATION))),
]}

# ----------------------------------------------------------------------------------------------------- the league
#: Training multiply-accumulates of every league entry (``training_macs_per_iteration`` x iterations): about
#: 2 minutes of a quick-sized model on 2 CPU cores (about as much as its quick preset), so that the whole league
#: (3 seeds x every chapter's family) trains in one or two background hours. Changing it invalidates every entry.
LEAGUE_BUDGET_MACS = 8 * 10**12
LEAGUE_SCALE = 2
LEAGUE_SETS = ("Set5", "Set14", "B100")
#: The families of the league, in the book's order: each chapter's ``quick`` model (chapters add theirs).
LEAGUE_FAMILIES: tuple[str, ...] = ("srcnn", "vdsr", "edsr-baseline", "mdsr", "rcan", "san", "csnln", "msrn", "cmsc",
                                   "srresnet")


def league_recipe(family: str) -> Recipe:
    """``family``'s quick recipe on T91 + BSD200 at x2, for :data:`LEAGUE_BUDGET_MACS` (learning rate halved at 3/4)."""
    from .loop import training_macs_per_iteration

    quick = get_recipe(family, "quick", LEAGUE_SCALE, train_sets=("T91", "BSD200"), val_set="Set5")
    iters = LEAGUE_BUDGET_MACS // training_macs_per_iteration(quick)
    return replace(quick, preset="league", iters=int(iters), lr_milestones=(int(iters * 3 // 4),),
                   val_every=max(1, int(iters) // 4), log_every=50)


def _league_arms() -> list[Arm]:
    return [Arm(f"league-{f}", f, league_recipe(f), group="league", eval_sets=LEAGUE_SETS) for f in LEAGUE_FAMILIES]


def arms() -> dict[str, Arm]:
    """Every arm of every study and the league, by name."""
    return {a.name: a for a in (*_ARMS, *_league_arms())}


def get_arm(name: str) -> Arm:
    table = arms()
    if name not in table:
        raise ConfigError(f"unknown experiment arm '{name}'; known: {', '.join(table)}")
    return table[name]


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ConfigError(f"unknown study '{name}'; known: {', '.join(STUDIES)}")
    return STUDIES[name]


# --------------------------------------------------------------------------------------------------------- running
def run_dir(root: str | Path, arm: Arm, seed: int) -> Path:
    return Path(root) / arm.group / arm.name / f"s{seed}"


def eval_path(root: str | Path, arm: Arm, seed: int, scale: int, self_ensemble: bool = False) -> Path:
    return run_dir(root, arm, seed) / f"eval_x{scale}{'_plus' if self_ensemble else ''}.json"


def seeded_recipe(root: str | Path, arm: Arm, seed: int) -> Recipe:
    """``arm``'s recipe for ``seed`` (with the checkpoint of ``init_arm`` for that seed)."""
    recipe = replace(arm.recipe, seed=seed)
    if arm.init_arm:
        last = run_dir(root, get_arm(arm.init_arm), seed) / "last.pt"
        recipe = replace(recipe, init_from=str(last), init_skip=arm.init_skip)
    return recipe


def _status(root: str | Path, arm: Arm, seed: int) -> str | None:
    path = run_dir(root, arm, seed) / "result.json"
    return read_results(path).get("status") if path.is_file() else None


def run_arm(arm: Arm, seed: int, root: str | Path = "results", data_dir: str | Path | None = None,
            log: Callable[[str], None] = print) -> None:
    """Train (or resume) ``arm`` with ``seed`` unless finished, then write its missing evaluation files."""
    from ..evaluate import evaluate_model
    from ..models import create_model
    from ..weights import load_into, read_state_dict
    from .loop import train

    out = run_dir(root, arm, seed)
    if arm.interpolate:
        _evaluate_interpolation(arm, seed, root, data_dir, log)
        return
    if arm.init_arm and _status(root, get_arm(arm.init_arm), seed) != "complete":
        run_arm(get_arm(arm.init_arm), seed, root, data_dir, log)
    status = _status(root, arm, seed)
    if status not in FINISHED:
        log(f"{arm.name} seed {seed}: {'resuming' if (out / 'last.pt').is_file() else 'training'}")
        train(seeded_recipe(root, arm, seed), out, resume=(out / "last.pt").is_file(), data_dir=data_dir,
              progress=False, log=log)
        status = _status(root, arm, seed)
    if status != "complete":
        return
    recipe = seeded_recipe(root, arm, seed)
    state = None
    for scale in arm.scales:
        model = None
        for plus in (False, True) if arm.self_ensemble else (False,):
            path = eval_path(root, arm, seed, scale, plus)
            if path.is_file():
                continue
            state = state if state is not None else read_state_dict(out / "last.pt")
            model = model or load_into(create_model(recipe.model, scale, options=recipe.options), state,
                                       out / "last.pt")
            res = evaluate_model(recipe.model, scale, list(arm.eval_sets), data_dir=data_dir, model=model,
                                 self_ensemble=plus, niqe=arm.niqe)
            res.update(kind="eval", arm=arm.name, seed=seed, train_run=str(out / "result.json"))
            res["provenance"]["config"].update(_weights_record(out))
            _write_eval(path, res, arm, seed, scale, plus, log)
    if arm.gaussian8 or arm.unrolled_steps:
        _evaluate_blind(arm, seed, root, data_dir, log)


def _weights_record(out: Path) -> dict[str, str]:
    """What a results file of a trained run records of its weights: the checkpoint path and its sha256."""
    return {"weights": str(out / "last.pt"), "weights_sha256": sha256_file(out / "last.pt")}


def gaussian8_path(root: str | Path, arm: Arm, seed: int, mode: str) -> Path:
    return run_dir(root, arm, seed) / f"gaussian8_{mode}_x{arm.recipe.scale}.json"


def steps_path(root: str | Path, arm: Arm, seed: int) -> Path:
    return run_dir(root, arm, seed) / f"unrolled_steps_x{arm.recipe.scale}.json"


def _evaluate_blind(arm: Arm, seed: int, root: str | Path, data_dir: str | Path | None,
                    log: Callable[[str], None]) -> None:
    """Chapter 9's files of a trained DAN arm: Gaussian8 PSNR per mode, and the unrolled steps (PSNR of each step
    on Gaussian8 Set5; the kernel each step estimates for the first Set5 image under every Gaussian8 kernel)."""
    from ..blind import evaluate_gaussian8, gaussian8_pairs, kernel_trajectory, psnr_by_iteration, sigma_key
    from ..models import create_model
    from ..weights import load_into, read_state_dict

    out, recipe = run_dir(root, arm, seed), seeded_recipe(root, arm, seed)
    weights = _weights_record(out)
    model = None

    def trained() -> Any:  # the trained network, read once, only if a file is missing
        return model or load_into(create_model(recipe.model, recipe.scale, options=recipe.options),
                                  read_state_dict(out / "last.pt"), out / "last.pt")

    for mode in arm.gaussian8:
        path = gaussian8_path(root, arm, seed, mode)
        if path.is_file():
            continue
        model = trained()
        res = evaluate_gaussian8(recipe.model, recipe.scale, list(arm.eval_sets), mode, data_dir=data_dir,
                                 model=model)
        res.update(kind="gaussian8", arm=arm.name, seed=seed, train_run=str(out / "result.json"))
        res["provenance"]["config"].update(weights)
        write_results(path, res, device="cpu")
        log(f"{arm.name} seed {seed} Gaussian8 {mode}: " + ", ".join(
            f"{d} {v['psnr']:.2f} dB" for d, v in res["datasets"].items()))
    path = steps_path(root, arm, seed)
    if arm.unrolled_steps and not path.is_file():
        model = trained()
        pairs = gaussian8_pairs(arm.eval_sets[0], recipe.scale, data_dir)
        steps = psnr_by_iteration(model, pairs, loops=arm.unrolled_steps)
        first = [p for p in pairs if p.name == pairs[0].name]
        kernels = {sigma_key(p.sigma): {"true": p.kernel.tolist(),
                                        "estimated": kernel_trajectory(model, p.lr, loops=arm.unrolled_steps).tolist()}
                   for p in first}
        res = {"kind": "unrolled_steps", "arm": arm.name, "seed": seed, "dataset": arm.eval_sets[0],
               "image": pairs[0].name, **steps, "kernels": kernels, "train_run": str(out / "result.json"),
               "config": weights}
        write_results(path, res, device="cpu", data_files=sorted({f for p in pairs for f in p.hr_files}))
        log(f"{arm.name} seed {seed} unrolled steps: PSNR " + " ".join(f"{v:.2f}" for v in steps["psnr"]))


def _write_eval(path: Path, res: dict[str, Any], arm: Arm, seed: int, scale: int, plus: bool,
                log: Callable[[str], None]) -> None:
    write_results(path, res, device="cpu")
    log(f"{arm.name} seed {seed} x{scale}{'+' if plus else ''}: " + ", ".join(
        f"{d} {v['psnr']:.2f} dB" + (f" NIQE {v['niqe']:.2f}" if "niqe" in v else "")
        for d, v in res["datasets"].items()))


def interpolate_weights(a: dict[str, Any], b: dict[str, Any], alpha: float) -> dict[str, Any]:
    """Network interpolation (Wang et al., ESRGAN Sec. 3.4): ``(1 - alpha) * a + alpha * b``, parameter by
    parameter, for two state dicts of the same architecture."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ConfigError("network interpolation needs two state dicts of the same architecture")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"interpolation alpha must be in [0, 1], got {alpha}")
    return {k: torch.lerp(a[k].float(), b[k].float(), alpha).to(a[k].dtype) if a[k].is_floating_point() else a[k]
            for k in a}


def _evaluate_interpolation(arm: Arm, seed: int, root: str | Path, data_dir: str | Path | None,
                            log: Callable[[str], None]) -> None:
    """Train the two end points if needed, then evaluate their interpolation (no training of its own)."""
    from ..evaluate import evaluate_model
    from ..models import create_model
    from ..weights import load_into, read_state_dict

    assert arm.interpolate is not None
    first, second, alpha = arm.interpolate
    ends = [get_arm(first), get_arm(second)]
    for end in ends:
        if _status(root, end, seed) != "complete":
            run_arm(end, seed, root, data_dir, log)
        if _status(root, end, seed) != "complete":
            log(f"{arm.name} seed {seed}: {end.name} did not complete; nothing to interpolate")
            return
    weights = [run_dir(root, end, seed) / "last.pt" for end in ends]
    state = interpolate_weights(read_state_dict(weights[0]), read_state_dict(weights[1]), alpha)
    recipe = arm.recipe
    for scale in arm.scales:
        path = eval_path(root, arm, seed, scale)
        if path.is_file():
            continue
        model = load_into(create_model(recipe.model, scale, options=recipe.options), state, "interpolated weights")
        res = evaluate_model(recipe.model, scale, list(arm.eval_sets), data_dir=data_dir, model=model, niqe=arm.niqe)
        res.update(kind="eval", arm=arm.name, seed=seed, interpolated={"alpha": alpha, "from": first, "to": second})
        res["provenance"]["config"].update(weights=[str(w) for w in weights],
                                           weights_sha256=[sha256_file(w) for w in weights])
        _write_eval(path, res, arm, seed, scale, False, log)


def experiment_arms(studies: Iterable[str] = (), league: bool = False) -> list[Arm]:
    """The arms of ``studies`` (each once, in order) and, with ``league``, the league entries."""
    names: list[str] = []
    for s in studies:
        names += [a for a in get_study(s).arms if a not in names]
    if league:
        names += [a.name for a in _league_arms()]
    return [get_arm(n) for n in names]


def run_experiments(studies: Iterable[str] = (), league: bool = False, root: str | Path = "results",
                    data_dir: str | Path | None = None, seeds: Iterable[int] = SEEDS,
                    log: Callable[[str], None] = print) -> None:
    """Run every missing (arm, seed), seed by seed, so that an interrupted campaign still has whole seeds."""
    chosen = experiment_arms(studies, league)
    for seed in seeds:
        for arm in chosen:
            run_arm(arm, seed, root, data_dir, log)


# --------------------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class ArmRuns:
    """What the results files of one arm say: per seed, the training result and the evaluations."""

    arm: Arm
    train: dict[int, dict[str, Any]]  # seed -> result.json
    evals: dict[tuple[int, int, bool], dict[str, Any]]  # (seed, scale, self-ensemble) -> eval file
    gaussian8: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # (seed, mode) -> file
    steps: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> unrolled-steps file

    def psnr(self, dataset: str, scale: int | None = None, self_ensemble: bool = False) -> list[float]:
        """The per-seed PSNR on ``dataset`` (diverged seeds excluded)."""
        return self.metric("psnr", dataset, scale, self_ensemble)

    def metric(self, name: str, dataset: str, scale: int | None = None, self_ensemble: bool = False) -> list[float]:
        """The per-seed set mean of ``name`` ("psnr", "ssim", "niqe") on ``dataset``."""
        scale = scale or self.arm.scales[0]
        return [e["datasets"][dataset][name] for (_, s, plus), e in sorted(self.evals.items())
                if s == scale and plus == self_ensemble and name in e["datasets"].get(dataset, {})]

    @property
    def diverged(self) -> list[int]:
        return [seed for seed, r in self.train.items() if r.get("status") == "diverged"]


def load_arm(name: str, root: str | Path = "results") -> ArmRuns:
    """Every results file of arm ``name`` under ``root`` (seeds with no file are absent)."""
    arm = get_arm(name)
    train: dict[int, dict[str, Any]] = {}
    evals: dict[tuple[int, int, bool], dict[str, Any]] = {}
    for seed in SEEDS:
        path = run_dir(root, arm, seed) / "result.json"
        if path.is_file():
            train[seed] = read_results(path)
        for scale in arm.scales:
            for plus in (False, True):
                p = eval_path(root, arm, seed, scale, plus)
                if p.is_file():
                    evals[seed, scale, plus] = read_results(p)
    gaussian8 = {(seed, mode): read_results(gaussian8_path(root, arm, seed, mode)) for seed in SEEDS
                 for mode in arm.gaussian8 if gaussian8_path(root, arm, seed, mode).is_file()}
    steps = {seed: read_results(steps_path(root, arm, seed)) for seed in SEEDS if steps_path(root, arm, seed).is_file()}
    return ArmRuns(arm, train, evals, gaussian8, steps)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; nan for fewer than 2 values)."""
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def summary_rows(arm_names: Iterable[str], root: str | Path = "results", datasets: Iterable[str] = ("Set5", "Set14"),
                 scale: int | None = None, self_ensemble: bool = False) -> list[dict[str, Any]]:
    """One row per arm: seeds, iterations, training TMACs, diverged seeds and mean +/- std PSNR per data set."""
    rows = []
    for name in arm_names:
        runs = load_arm(name, root)
        if not runs.train and not (runs.arm.interpolate and runs.evals):
            raise ResultsError(f"no results files for experiment arm '{name}' under {root} (make studies / league)")
        finals = [r["final"] for r in runs.train.values()]  # none for an interpolation: it is not trained
        row: dict[str, Any] = {"arm": runs.arm.label, "seeds": len(runs.train) or len(runs.evals),
                               "iterations": max((f["iteration"] for f in finals), default=0),
                               "train TMACs": max((f.get("train_macs", 0) for f in finals), default=0) / 1e12,
                               "diverged": len(runs.diverged)}
        for d in datasets:
            m, s = mean_std(runs.psnr(d, scale, self_ensemble))
            row[f"{d} PSNR"], row[f"{d} std"] = m, s
        rows.append(row)
    return rows


def curves(name: str, root: str | Path = "results") -> dict[int, list[dict[str, Any]]]:
    """Per seed, the validation history of arm ``name`` (iteration, seconds, loss, val_psnr)."""
    return {seed: r["history"] for seed, r in load_arm(name, root).train.items()}


@dataclass(frozen=True)
class Comparison:
    """Arm A against arm B over seeds: the difference of the mean PSNRs and its (Welch) standard error."""

    diff: float  # mean(A) - mean(B), dB
    se: float  # sqrt(var(A)/n_A + var(B)/n_B)
    n: tuple[int, int]

    @property
    def held(self) -> bool:
        """The claim "A is better than B" holds: the difference is positive and more than twice its standard error
        (with at least two seeds on each side)."""
        return min(self.n) >= 2 and self.diff > 2 * self.se

    @property
    def verdict(self) -> str:
        if min(self.n) < 2:
            return "not decided (fewer than two seeds)"
        if self.held:
            return "held"
        return "not held (the difference is within two standard errors)" if self.diff >= 0 else \
            "not held (the other way round)"


def compare(a: list[float], b: list[float], paired: bool = False) -> Comparison:
    """:class:`Comparison` of per-seed values ``a`` (the side the paper says is better) and ``b``. ``paired``: the
    i-th values of ``a`` and ``b`` measure the same trained model (e.g. with and without self-ensemble), so the
    standard error is that of the per-seed differences."""
    if not a or not b:
        return Comparison(math.nan, math.nan, (len(a), len(b)))
    var = lambda v: float(np.var(v, ddof=1)) if len(v) > 1 else math.nan  # noqa: E731
    if paired:
        if len(a) != len(b):
            raise ConfigError(f"a paired comparison needs as many values on each side, got {len(a)} and {len(b)}")
        d = [x - y for x, y in zip(a, b)]
        return Comparison(float(np.mean(d)), math.sqrt(var(d) / len(d)), (len(a), len(b)))
    return Comparison(float(np.mean(a) - np.mean(b)), math.sqrt(var(a) / len(a) + var(b) / len(b)), (len(a), len(b)))


def league_rows(root: str | Path = "results") -> list[dict[str, Any]]:
    """The league table: one row per family with results files (mean +/- std over seeds on :data:`LEAGUE_SETS`)."""
    from ..complexity import count_parameters
    from ..models import create_model

    rows = []
    for family in LEAGUE_FAMILIES:
        arm = get_arm(f"league-{family}")
        runs = load_arm(arm.name, root)
        if not runs.train:
            continue
        finals = [r["final"] for r in runs.train.values()]
        row: dict[str, Any] = {
            "family": family, "parameters": count_parameters(create_model(arm.recipe.model, LEAGUE_SCALE,
                                                                          options=arm.recipe.options)),
            "GMACs / iteration": finals[0]["macs_per_iteration"] / 1e9, "iterations": finals[0]["iteration"],
            "seeds": len(runs.evals), "minutes / run": float(np.mean([f["seconds"] for f in finals])) / 60}
        for d in LEAGUE_SETS:
            row[f"{d} PSNR"], row[f"{d} std"] = mean_std(runs.psnr(d))
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- reading: chapters 8 (SRGAN), 9 (DAN)
def seed_stats(per_seed: list[list[float]]) -> tuple[list[float], list[float]]:
    """Position by position, the mean and sample standard deviation over seeds (NaN std for one seed) of equally
    long per-seed lists (e.g. PSNR per kernel width, or per unrolled step)."""
    if not per_seed or len({len(v) for v in per_seed}) != 1:
        raise ConfigError(f"seed_stats needs per-seed lists of one length, got lengths {[len(v) for v in per_seed]}")
    pairs = [mean_std([v[i] for v in per_seed]) for i in range(len(per_seed[0]))]
    return [m for m, _ in pairs], [s for _, s in pairs]


def perception_rows(arm_names: Iterable[str], root: str | Path = "results",
                    datasets: Iterable[str] = _SRGAN_SETS) -> list[dict[str, Any]]:
    """Chapter 8's table: per arm with evaluation files, the seeds and, per data set, the mean and standard
    deviation over seeds of PSNR (distortion) and NIQE (perception, Mittal et al. 2013; lower is more natural).
    Arms without files are left out (the chapter prints which)."""
    rows = []
    for name in arm_names:
        runs = load_arm(name, root)
        if not runs.evals:
            continue
        row: dict[str, Any] = {"arm": name, "label": runs.arm.label, "seeds": len(runs.evals)}
        for d in datasets:
            for metric in ("psnr", "niqe"):
                row[f"{d} {metric.upper()}"], row[f"{d} {metric.upper()} std"] = mean_std(runs.metric(metric, d))
        rows.append(row)
    return rows


def _per_seed(runs: ArmRuns, dataset: str) -> dict[int, dict[str, Any]]:
    """Seed -> the ``dataset`` entry of the arm's (first-scale, plain) evaluation file."""
    scale = runs.arm.scales[0]
    return {seed: e["datasets"][dataset] for (seed, s, plus), e in runs.evals.items()
            if s == scale and not plus and dataset in e["datasets"]}


def trade_off_rows(gan_arms: Iterable[str], reference: str = "srresnet-mse", dataset: str = "Set14",
                   root: str | Path = "results") -> list[dict[str, Any]]:
    """Chapter 8's claims, one row per GAN arm against ``reference`` on ``dataset``, over the seeds both have,
    paired by seed (each GAN run starts from the reference run of its seed): ``psnr`` and ``niqe``, the
    :class:`Comparison` reference - GAN (the paper: both positive, the GAN loses PSNR and is more natural, SRGAN
    Sec. 3.4); and per image, averaged over those seeds, ``images_lower`` (images whose NIQE the GAN lowers),
    ``images`` and ``median_niqe_gain`` (median of reference - GAN): a set mean of NIQE can be moved by a few
    images."""
    ref = _per_seed(load_arm(reference, root), dataset)
    rows = []
    for name in gan_arms:
        gan = _per_seed(load_arm(name, root), dataset)
        seeds = sorted(set(ref) & set(gan))
        if not seeds:
            continue
        row: dict[str, Any] = {"arm": name, "seeds": len(seeds)}
        for m in ("psnr", "niqe"):
            row[m] = compare([ref[s][m] for s in seeds], [gan[s][m] for s in seeds], paired=True)
        images = sorted(ref[seeds[0]]["per_image"])
        gain = [float(np.mean([ref[s]["per_image"][i]["niqe"] - gan[s]["per_image"][i]["niqe"] for s in seeds]))
                for i in images]
        row.update(images=len(images), images_lower=sum(g > 0 for g in gain), median_niqe_gain=float(np.median(gain)))
        rows.append(row)
    return rows


def interpolation_path() -> tuple[str, ...]:
    """The arms along chapter 8's network interpolation, alpha 0 (SRResNet-MSE) to 1 (the paper-weight GAN arm)."""
    interp = [a for a in arms().values() if a.interpolate]
    first, last = interp[0].interpolate[0], interp[0].interpolate[1]  # type: ignore[index]
    return (first, *(a.name for a in sorted(interp, key=lambda a: a.interpolate[2])), last)  # type: ignore[index]


def gaussian8_stats(name: str, mode: str, dataset: str, root: str | Path = "results") -> dict[str, Any] | None:
    """Chapter 9: arm ``name`` on Gaussian8 ``dataset`` in ``mode`` ("blind", "oracle") over its seeds: ``seeds``,
    ``psnr`` (mean, std of the per-seed set means), ``sigmas`` and per-sigma ``mean``/``std``; None without files."""
    files = [f for (_, m), f in sorted(load_arm(name, root).gaussian8.items()) if m == mode and dataset in f["datasets"]]
    if not files:
        return None
    sigmas = sorted(files[0]["datasets"][dataset]["per_sigma"], key=float)
    mean, std = seed_stats([[f["datasets"][dataset]["per_sigma"][s]["psnr"] for s in sigmas] for f in files])
    return {"seeds": len(files), "psnr": mean_std([f["datasets"][dataset]["psnr"] for f in files]),
            "sigmas": [float(s) for s in sigmas], "mean": mean, "std": std}


def unrolled_stats(name: str, root: str | Path = "results") -> dict[str, Any] | None:
    """Chapter 9: PSNR after each unrolled step of arm ``name`` (mean, std over seeds), the trained number of steps,
    the image and data set measured; None without files."""
    steps = [f for _, f in sorted(load_arm(name, root).steps.items())]
    if not steps:
        return None
    mean, std = seed_stats([f["psnr"] for f in steps])
    return {"seeds": len(steps), "iterations": steps[0]["iterations"], "mean": mean, "std": std,
            "trained_loop": steps[0]["trained_loop"], "dataset": steps[0]["dataset"], "image": steps[0]["image"]}
