"""The training engine: recipes, deterministic training patches, the update rules and the loop.

    from sr_lib.train import get_recipe, train
    run = train(get_recipe("edsr-baseline", "quick", scale=2), out_dir="runs/edsr")

Chapters 2-9 train with it; ``sr-lib train`` and ``sr-lib repro`` are its command lines.
"""

from .loop import TrainOutput, train, training_macs_per_iteration, validate
from .patches import Batch, PatchSampler
from .recipes import PAPER, PRESETS, QUICK, Recipe, get_recipe, lr_at, with_settings

__all__ = ["Batch", "PAPER", "PRESETS", "PatchSampler", "QUICK", "Recipe", "TrainOutput", "get_recipe", "lr_at",
           "train", "training_macs_per_iteration", "validate", "with_settings"]
