"""The two update rules: supervised (pixel loss, or the model's own loss) and GAN (SRGAN, two optimizers).

Each step object owns its optimizers (``optimizers()`` gives them by name for the checkpoint) and performs one
update from a :class:`~sr_lib.train.patches.Batch` at a given learning rate.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models import ModelEntry
from .patches import Batch
from .recipes import Recipe

Tensor = torch.Tensor


def make_optimizer(params: Iterable[nn.Parameter], recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    """Adam (``betas``, ``eps``) or SGD with momentum; ``weight_decay`` as an L2 penalty in both."""
    params = [p for p in params if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=recipe.betas, eps=recipe.eps, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    raise ConfigError(f"unknown optimizer '{recipe.optimizer}' (adam or sgd)")


def pixel_loss(kind: str, out: Tensor, target: Tensor) -> Tensor:
    """``l1`` / ``mse``: means over every value. ``euclidean``: Caffe's EuclideanLoss, ``sum ||out - target||^2 / 2N``
    over a batch of N (the loss of the SRCNN and VDSR papers, ``1/2 ||r - f(x)||^2`` per sub-image): its gradients are
    (pixels per patch) / 2 times larger than those of ``mse``, which is what their learning rates were tuned for."""
    if kind == "l1":
        return F.l1_loss(out, target)
    if kind == "mse":
        return F.mse_loss(out, target)
    if kind == "euclidean":
        return (out - target).pow(2).sum() / (2 * out.shape[0])
    raise ConfigError(f"unknown pixel loss '{kind}' (l1, mse or euclidean)")


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (or the network itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def select_scale(model: nn.Module, scale: int) -> None:
    """Multi-scale networks (MDSR) run the branch of ``scale``; single-scale ones ignore this."""
    net = unwrap(model)
    if hasattr(net, "set_scale"):
        net.set_scale(scale)


class _Update:
    """What both rules share: mixed precision (CUDA), the gradient scaler, clipping and the learning rate."""

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        self.recipe, self.device = recipe, device
        cuda = device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.amp) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and recipe.amp == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def apply(self, loss: Tensor, optimizer: torch.optim.Optimizer, lr: float) -> None:
        """Backward, clip (global norm, or VDSR's theta / lr per value), step at learning rate ``lr``."""
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if self.recipe.clip_norm or self.recipe.clip_adjustable:
            self.scaler.unscale_(optimizer)
        if self.recipe.clip_norm:
            nn.utils.clip_grad_norm_(params, self.recipe.clip_norm)
        if self.recipe.clip_adjustable:  # VDSR Sec. 3.2: gradients clipped to [-theta/gamma, theta/gamma]
            nn.utils.clip_grad_value_(params, self.recipe.clip_adjustable / lr)
        self.scaler.step(optimizer)
        self.scaler.update()


class SupervisedStep(_Update):
    """``loss(predict(model, lr), hr)``: L1/MSE in the model's pixel units, or the entry's own training loss."""

    def __init__(self, model: nn.Module, entry: ModelEntry, recipe: Recipe, device: torch.device) -> None:
        super().__init__(recipe, device)
        self.model, self.entry = model, entry
        self.optimizer = make_optimizer(model.parameters(), recipe, recipe.lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.optimizer}

    def __call__(self, batch: Batch, lr: float) -> dict[str, float]:
        px = self.entry.input.pixel_max
        x, target = batch.lr.to(self.device) * px, batch.hr.to(self.device) * px
        extras = {k: v.to(self.device) for k, v in batch.extras.items()}
        select_scale(self.model, batch.scale)
        with self.autocast():
            if self.recipe.loss == "model":
                assert self.entry.training_loss is not None  # Recipe.check
                loss = self.entry.training_loss(self.model, x, target, extras)
            else:
                loss = pixel_loss(self.recipe.loss, self.entry.predict(self.model, x).float(), target)
        self.apply(loss, self.optimizer, lr)
        return {"loss": loss.item()}


class GANStep(_Update):
    """SRGAN (Ledig et al. 2017, Eq. 2-3): alternate one discriminator and one generator update (k = 1).

    Generator loss = content + ``adv_weight`` * ``-log D(G(lr))``; content is a pixel loss, or the VGG19 feature
    loss (``vgg54`` / ``vgg22``, Eq. 5 with the 1/12.75 rescaling) when the VGG19 weights are available.
    """

    def __init__(self, model: nn.Module, discriminator: nn.Module, entry: ModelEntry, recipe: Recipe,
                 device: torch.device, content: nn.Module | None = None) -> None:
        super().__init__(recipe, device)
        self.model, self.discriminator, self.entry, self.content = model, discriminator, entry, content
        self.optimizer = make_optimizer(model.parameters(), recipe, recipe.lr)
        self.d_optimizer = make_optimizer(discriminator.parameters(), recipe, recipe.d_lr or recipe.lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.optimizer, "discriminator": self.d_optimizer}

    def __call__(self, batch: Batch, lr: float) -> dict[str, float]:
        from ..losses import adversarial_generator_loss, discriminator_loss

        px = self.entry.input.pixel_max
        x, hr = batch.lr.to(self.device) * px, batch.hr.to(self.device) * px
        d_lr = lr * (self.recipe.d_lr or self.recipe.lr) / self.recipe.lr
        with self.autocast():
            sr = self.entry.predict(self.model, x)
            d_loss = discriminator_loss(self.discriminator(hr / px), self.discriminator(sr.detach() / px))
        self.apply(d_loss, self.d_optimizer, d_lr)
        for p in self.discriminator.parameters():
            p.requires_grad_(False)
        with self.autocast():
            content = self.content(sr / px, hr / px) if self.content else pixel_loss(self.recipe.content_loss, sr, hr)
            adv = adversarial_generator_loss(self.discriminator(sr / px))
            g_loss = content + self.recipe.adv_weight * adv
        self.apply(g_loss, self.optimizer, lr)
        for p in self.discriminator.parameters():
            p.requires_grad_(True)
        return {"loss": g_loss.item(), "content": content.item(), "adv": adv.item(), "d_loss": d_loss.item()}

