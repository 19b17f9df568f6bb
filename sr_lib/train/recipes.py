"""Training recipes: one frozen :class:`Recipe` with typed defaults, and named presets as short ``replace`` lists.

Every family has ``paper`` (the published recipe; each number names its source in ``papers/training_recipes.md``)
and ``quick`` (a scaled-down model and schedule that trains in a few minutes on two CPU cores). Presets stop on
iterations, never on wall-clock time, so the numbers a chapter quotes do not depend on the machine.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

from ..errors import ConfigError
from ..models import get_model_entry


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run (stored in ``last.pt`` and ``result.json``)."""

    model: str = "srcnn"
    preset: str = "custom"  # the name it was made from (a label: not compared on resume)
    scale: int = 2  # the validation scale (and the training scale unless ``scales`` is given)
    scales: tuple[int, ...] = ()  # training scales; () means (scale,)
    multiscale: Literal["batch", "item"] = "batch"  # MDSR: one scale per batch; VDSR: scales mixed in a batch
    model_options: tuple[tuple[str, Any], ...] = ()  # constructor options of the family (scaled-down models)
    init_from: str | None = None  # a checkpoint to start from (EDSR x3/x4 from x2, SRGAN from SRResNet)
    init_skip: tuple[str, ...] = ()  # parameter-name prefixes not taken from init_from (EDSR x4 from x2: "tail.")
    update: Literal["supervised", "gan"] = "supervised"
    # data
    train_sets: tuple[str, ...] = ("T91", "BSD200")
    hr_patch: int = 96  # HR side of a training patch; LR-input models: the LR side is hr_patch // scale
    batch_size: int = 16  # the global batch, split across DDP processes
    augment: bool = True  # the 8 flips/rotations
    degradation: Literal["bicubic", "gaussian"] = "bicubic"  # gaussian: random isotropic blur, then bicubic
    blur_sigma: tuple[float, float] = (0.2, 4.0)
    kernel_size: int = 21
    # optimisation
    iters: int = 1000
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_milestones: tuple[int, ...] = ()  # the learning rate is multiplied by lr_gamma at each of these iterations
    lr_gamma: float = 0.5
    loss: Literal["l1", "mse", "euclidean", "model"] = "l1"  # "model": the registry entry's own training loss
    clip_norm: float | None = None  # clip the global gradient norm
    clip_adjustable: float | None = None  # VDSR: clip each gradient to [-theta / lr, theta / lr]
    ema: float | None = None  # decay of an exponential moving average of the weights (evaluated instead)
    amp: Literal["off", "bf16", "fp16"] = "off"  # CUDA only; CPU runs in float32
    # GAN update rule (SRGAN)
    content_loss: Literal["mse", "l1", "vgg54", "vgg22"] = "mse"
    adv_weight: float = 1e-3
    disc_options: tuple[tuple[str, Any], ...] = ()  # SRGAN discriminator options (nf, fc); () = the paper's
    d_lr: float | None = None  # None: the generator's learning rate
    # bookkeeping
    seed: int = 0
    val_set: str = "Set5"
    val_every: int = 500
    log_every: int = 50

    @property
    def train_scales(self) -> tuple[int, ...]:
        return self.scales or (self.scale,)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_options)

    def check(self) -> Recipe:
        """Raise a one-line :class:`ConfigError` for an inconsistent recipe; return self."""
        entry = get_model_entry(self.model)
        for s in {self.scale, *self.train_scales}:
            entry.check_scale(s)
            if self.hr_patch % s and not entry.input.pre_upsample:
                raise ConfigError(f"hr_patch {self.hr_patch} is not divisible by the scale {s}")
        positive = {"iters": self.iters, "batch_size": self.batch_size, "hr_patch": self.hr_patch,
                    "val_every": self.val_every, "log_every": self.log_every}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.lr <= 0 or not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"need lr > 0 and 0 < lr_gamma <= 1, got {self.lr}, {self.lr_gamma}")
        if self.loss == "model" and entry.training_loss is None:
            raise ConfigError(f"model '{self.model}' declares no training loss of its own; use loss=l1 or mse")
        if self.update == "gan" and entry.input.color != "rgb":
            raise ConfigError("the GAN update rule needs an RGB model")
        if self.init_skip and not self.init_from:
            raise ConfigError("init_skip names parameters not taken from init_from, but init_from is not set")
        if self.degradation == "gaussian" and entry.input.pre_upsample:
            raise ConfigError("Gaussian-blur degradation is implemented for LR-input models")
        return self


def lr_at(recipe: Recipe, iteration: int) -> float:
    """The learning rate for update ``iteration`` (0-based): step decay, a plain function of the iteration."""
    return recipe.lr * recipe.lr_gamma ** sum(iteration >= m for m in recipe.lr_milestones)


#: Fields that may differ when a run is resumed (they do not change what the first iterations compute).
RESUMABLE_FIELDS = ("preset", "iters", "val_every", "log_every")


def structural_diff(saved: dict[str, Any], recipe: Recipe) -> list[str]:
    """Names of fields whose value differs between a saved recipe and ``recipe``, ignoring resumable ones."""
    now = as_dict(recipe)
    return [k for k in sorted(set(saved) | set(now)) if k not in RESUMABLE_FIELDS and saved.get(k) != now.get(k)]


def as_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain JSON- and ``weights_only``-friendly values (tuples become lists)."""

    def plain(v: Any) -> Any:
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v

    return {f.name: plain(getattr(recipe, f.name)) for f in dataclasses.fields(recipe)}


def from_dict(values: dict[str, Any]) -> Recipe:
    """Inverse of :func:`as_dict`."""
    fields = {f.name for f in dataclasses.fields(Recipe)}
    unknown = set(values) - fields
    if unknown:
        raise ConfigError(f"unknown recipe fields: {', '.join(sorted(unknown))}")

    def tup(v: Any) -> Any:
        return tuple(tup(x) for x in v) if isinstance(v, list) else v

    return Recipe(**{k: tup(v) for k, v in values.items()})


def with_settings(recipe: Recipe, settings: Sequence[str]) -> Recipe:
    """Apply ``--set key=value`` strings (Python literals; ``model.<option>=value`` sets a model option)."""
    fields = {f.name for f in dataclasses.fields(Recipe)}
    changes: dict[str, Any] = {}
    options = dict(recipe.model_options)
    for item in settings:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word such as adam or l1
        if key.startswith("model."):
            options[key.removeprefix("model.")] = value
        elif key in fields:
            changes[key] = tuple(value) if isinstance(value, list) else value
        else:
            raise ConfigError(f"unknown recipe field '{key}'; known: {', '.join(sorted(fields))}")
    return replace(recipe, **changes, model_options=tuple(sorted(options.items())))


# ------------------------------------------------------------------------------------------------------ presets
# The sources of the ``paper`` numbers are keyed as in papers/training_recipes.md: [S] SRCNN Caffe package,
# [V] VDSR paper, [E-P]/[E-PT] EDSR paper / PyTorch code, [R] RCAN, [SA] SAN, [C] CSNLN, [M-old]/[M-new] MSRN,
# [G] SRGAN paper, [D] DAN code. Our data are T91 + BSD200 (DIV2K is not available offline; see the chapters).

_EDSR_CODE = dict(  # the EDSR-PyTorch defaults shared by RCAN, CSNLN, MSRN [E-PT]
    optimizer="adam", lr=1e-4, betas=(0.9, 0.999), eps=1e-8, batch_size=16, loss="l1",
    lr_milestones=(200_000,), lr_gamma=0.5,  # x0.5 every 200 epochs of 1000 iterations [E-PT]
)
# RCAN's and MSRN's code bases predate EDSR-PyTorch's MultiStepLR (``--decay 200``: one halving): their ``--lr_decay
# 200`` is a StepLR, x0.5 every 200 epochs of 1000 iterations, i.e. four halvings in 10^6 updates.
_EVERY_200_EPOCHS = tuple(range(200_000, 1_000_000, 200_000))
_QUICK = dict(train_sets=("T91",), iters=2000, val_every=500, log_every=50, lr=1e-3, lr_milestones=(1500,))
_QUICK_SLOW = {**_QUICK, "iters": 1200, "val_every": 300, "lr_milestones": (900,)}  # ~0.1 s per update on 2 cores

PAPER: dict[str, Recipe] = {
    "srcnn": Recipe(model="srcnn", train_sets=("T91",),  # 91 images [S]
                    hr_patch=33,  # 33x33 sub-images of the interpolated image [S]
                    batch_size=128, optimizer="sgd", momentum=0.9, lr=1e-4, loss="euclidean",  # Caffe [S]
                    iters=15_000_000),  # max_iter [S]
    "vdsr": Recipe(model="vdsr", scales=(2, 3, 4), multiscale="item",  # scales mixed in a batch [V Training]
                   hr_patch=41,  # 41x41 sub-images of the interpolated image [V]
                   batch_size=64, optimizer="sgd", momentum=0.9, weight_decay=1e-4, lr=0.1,  # [V Training Params]
                   lr_milestones=(2490, 4980, 7470), lr_gamma=0.1,  # /10 every 20 epochs of 124.5 it [V]
                   iters=9960, loss="euclidean",  # 80 epochs [V]; 1/2 ||r - f(x)||^2 per sub-image [V Training]
                   clip_adjustable=0.4),  # theta is not given in [V]: 0.4 as in pytorch-vdsr
    "edsr-baseline": Recipe(model="edsr-baseline", hr_patch=96, iters=300_000, **_EDSR_CODE),  # 48 LR [E-P 4.2]
    "edsr": Recipe(model="edsr", hr_patch=96, iters=1_000_000, **_EDSR_CODE),  # 10^6 updates [E-P 4.5]
    "mdsr": Recipe(model="mdsr", scales=(2, 3, 4), multiscale="batch", hr_patch=96, iters=650_000,
                   **_EDSR_CODE),  # one scale per minibatch [E-P 4.2]; 650 epochs (template) [E-PT]
    "rcan": Recipe(model="rcan", hr_patch=96, iters=1_000_000,  # 1000 epochs default [R]
                   **{**_EDSR_CODE, "lr_milestones": _EVERY_200_EPOCHS}),  # the older code's StepLR: every 200 [R]
    "san": Recipe(model="san", hr_patch=96, iters=3_000_000, batch_size=16, optimizer="adam", lr=1e-4,
                  betas=(0.9, 0.99), eps=1e-8, loss="l1",  # beta2 0.99 [SA]
                  lr_milestones=tuple(range(50_000, 3_000_000, 50_000)), lr_gamma=0.6),  # x0.6 / 50 epochs [SA]
    "csnln": Recipe(model="csnln", hr_patch=96, iters=1_000_000, **_EDSR_CODE),  # HR 96 at x2 [C]
    "msrn": Recipe(model="msrn", hr_patch=96, iters=1_000_000,  # RGB retrain [M-new]
                   **{**_EDSR_CODE, "lr_milestones": _EVERY_200_EPOCHS}),  # StepLR, x0.5 every 200 epochs [M-new]
    "cmsc": Recipe(model="cmsc", hr_patch=41, scales=(2, 3, 4), multiscale="item", batch_size=64,
                   optimizer="sgd", momentum=0.9, weight_decay=1e-4, lr=0.1, lr_milestones=(2490, 4980, 7470),
                   lr_gamma=0.1, iters=9960, loss="model",  # no training section read: VDSR's recipe (cmsc.md)
                   clip_adjustable=0.4),
    "srresnet": Recipe(model="srresnet", scale=4, hr_patch=96, batch_size=16, optimizer="adam", lr=1e-4,
                       betas=(0.9, 0.999), loss="mse", iters=1_000_000),  # [G 3.2]
    "srgan": Recipe(model="srresnet", scale=4, update="gan", hr_patch=96, batch_size=16, optimizer="adam",
                    lr=1e-4, lr_milestones=(100_000,), lr_gamma=0.1, iters=200_000,  # [G 3.2]
                    content_loss="vgg54", adv_weight=1e-3),  # l_X + 1e-3 l_Gen, VGG54 [G 2.2]
    "dan": Recipe(model="dan-v1", hr_patch=128, batch_size=64, optimizer="adam", lr=4e-4, betas=(0.9, 0.99),
                  lr_milestones=(200_000,), lr_gamma=0.5, iters=400_000, loss="model",  # [D]
                  degradation="gaussian", blur_sigma=(0.2, 4.0), kernel_size=21),  # shipped ymls [D]
}

QUICK: dict[str, Recipe] = {
    # Two CPU cores, a few minutes; T91 only, scaled-down models, Adam 1e-3 halved late.
    "srcnn": replace(PAPER["srcnn"], hr_patch=32, batch_size=16, optimizer="adam", lr=1e-3, iters=3000, loss="mse",
                     lr_milestones=(1500, 2500), val_every=500, log_every=50),
    "vdsr": replace(PAPER["vdsr"], scales=(), model_options=(("depth", 8), ("n_feats", 32)), hr_patch=36,
                    batch_size=16, optimizer="adam", lr=1e-3, weight_decay=0.0, clip_adjustable=None, loss="mse",
                    clip_norm=1.0, iters=1500, lr_milestones=(1000,), lr_gamma=0.5, val_every=250, log_every=25,
                    train_sets=("T91",)),
    "edsr-baseline": replace(PAPER["edsr-baseline"], model_options=(("n_feats", 32), ("n_resblocks", 4)),
                             hr_patch=48, **_QUICK),
    "edsr": replace(PAPER["edsr"], model_options=(("n_feats", 32), ("n_resblocks", 4)), hr_patch=48, **_QUICK),
    "mdsr": replace(PAPER["mdsr"], model_options=(("n_feats", 32), ("n_resblocks", 4)), hr_patch=48, **_QUICK),
    "rcan": replace(PAPER["rcan"], model_options=(("n_feats", 16), ("n_resblocks", 2), ("n_resgroups", 2),
                                                  ("reduction", 4)), hr_patch=48, **_QUICK),
    "san": replace(PAPER["san"], model_options=(("n_feats", 16), ("n_resblocks", 2), ("n_resgroups", 2),
                                                ("reduction", 4)), hr_patch=48, lr_gamma=0.5, **_QUICK),
    "csnln": replace(PAPER["csnln"], model_options=(("n_feats", 16), ("depth", 1), ("attention_channels", None)),
                     hr_patch=48, **_QUICK_SLOW),
    "msrn": replace(PAPER["msrn"], model_options=(("n_feats", 16), ("n_blocks", 2)), hr_patch=48, **_QUICK),
    "cmsc": replace(PAPER["cmsc"], scales=(), multiscale="batch",
                    model_options=(("n_feats", 16), ("n_stages", 2), ("n_modules_per_stage", 1)),
                    hr_patch=36, batch_size=16, optimizer="adam", lr=1e-3, weight_decay=0.0, clip_adjustable=None,
                    clip_norm=1.0, iters=2000, lr_milestones=(1500,), lr_gamma=0.5, val_every=500, log_every=50,
                    train_sets=("T91",)),
    "srresnet": replace(PAPER["srresnet"], model_options=(("nf", 32), ("nb", 4)), hr_patch=64, loss="l1",
                        **_QUICK_SLOW),
    "srgan": replace(PAPER["srgan"], model_options=(("nf", 32), ("nb", 4)), disc_options=(("nf", 16), ("fc", 128)),
                     hr_patch=64, content_loss="l1", adv_weight=5e-3,
                     **{**_QUICK, "iters": 800, "val_every": 400, "lr_milestones": (600,)}),
    "dan": replace(PAPER["dan"], model_options=(("nf", 16), ("nb", 4)), hr_patch=32, batch_size=16,
                   blur_sigma=(0.2, 1.2), ema=0.99,  # the unrolled model is noisy this early: average the weights
                   **{**_QUICK, "iters": 1000, "val_every": 500, "lr_milestones": (750,)}),
}

PRESETS: dict[str, dict[str, Recipe]] = {"paper": PAPER, "quick": QUICK}


def recipe_key(model: str) -> str:
    """The preset key of a registry model: the name itself if it has presets, else its family's."""
    if model in PAPER:
        return model
    if model == "mdsr-baseline":
        return "mdsr"
    family = get_model_entry(model).family
    if family in PAPER:
        return family
    raise ConfigError(f"no training presets for model '{model}'; presets exist for: {', '.join(PAPER)}")


def get_recipe(model: str, preset: str, scale: int, **overrides: Any) -> Recipe:
    """The ``preset`` ("quick" or "paper") recipe for ``model`` at validation ``scale``, with ``overrides``.

    ``model`` may be a registry name (``edsr-baseline``, ``vdsr``) or a recipe-only name (``srgan`` = SRResNet
    trained with the GAN update rule).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    base = PRESETS[preset][recipe_key(model)]
    name = model if model in _registry_names() else base.model  # "srgan" trains the registry's "srresnet"
    fields = {f.name for f in dataclasses.fields(Recipe)}
    bad = set(overrides) - fields
    if bad:
        raise ConfigError(f"unknown recipe fields: {', '.join(sorted(bad))}")
    return replace(base, model=name, preset=preset, scale=scale, **overrides).check()


def _registry_names() -> list[str]:
    from ..models import list_models

    return list_models()
