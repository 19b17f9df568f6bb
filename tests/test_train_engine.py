"""The training engine: recipes, deterministic batches, exact resume after SIGKILL, DDP = one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_lib.errors import ConfigError
from sr_lib.models import create_model
from sr_lib.train import PAPER, QUICK, PatchSampler, Recipe, get_recipe, lr_at, train, with_settings
from sr_lib.train.recipes import as_dict, from_dict, structural_diff

# Small and fast: the embedded Demo photos for training and validation, a narrow SRCNN.
TINY = ["--set", "train_sets=('Demo',)", "--set", "val_set='Demo'", "--set", "model.n1=16", "--set", "model.n2=8",
        "--set", "batch_size=8", "--set", "hr_patch=24", "--set", "log_every=5"]


def _cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    base = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "sr_lib.cli", "train", *args], env=base, **kw,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=True)["model"]


def test_every_family_has_paper_and_quick_presets() -> None:
    families = {"srcnn", "vdsr", "edsr-baseline", "edsr", "mdsr", "rcan", "san", "csnln", "msrn", "cmsc", "srresnet",
                "srgan", "dan"}
    assert set(PAPER) == set(QUICK) == families
    for name in families:
        for preset in ("quick", "paper"):
            scale = 4 if name in ("srresnet", "srgan") else 2
            r = get_recipe(name, preset, scale)
            assert r.preset == preset and r.scale == scale


def test_paper_recipes_pin_the_published_numbers() -> None:
    """Each value as read in papers/training_recipes.md (source keys in sr_lib/train/recipes.py)."""
    v = PAPER["vdsr"]
    assert (v.batch_size, v.optimizer, v.momentum, v.weight_decay, v.lr, v.iters) == (64, "sgd", 0.9, 1e-4, 0.1, 9960)
    assert v.lr_gamma == 0.1 and len(v.lr_milestones) == 3 and v.multiscale == "item" and v.loss == "euclidean"
    e = PAPER["edsr"]
    assert (e.hr_patch // 2, e.batch_size, e.lr, e.betas, e.eps, e.loss) == (48, 16, 1e-4, (0.9, 0.999), 1e-8, "l1")
    assert e.lr_milestones == (200_000,) and e.lr_gamma == 0.5 and e.iters == 1_000_000
    assert PAPER["edsr-baseline"].iters == 300_000 and PAPER["mdsr"].multiscale == "batch"
    assert PAPER["san"].betas == (0.9, 0.99) and PAPER["san"].lr_gamma == 0.6
    assert PAPER["san"].lr_milestones[:2] == (50_000, 100_000)
    for name in ("rcan", "msrn"):  # StepLR every 200 epochs [R], [M-new]; CSNLN's newer code halves once [C]
        assert PAPER[name].lr_milestones == (200_000, 400_000, 600_000, 800_000), name
    assert PAPER["csnln"].lr_milestones == (200_000,)
    g = PAPER["srgan"]
    assert (g.update, g.adv_weight, g.content_loss, g.lr, g.lr_milestones, g.lr_gamma, g.iters) == \
        ("gan", 1e-3, "vgg54", 1e-4, (100_000,), 0.1, 200_000)
    assert PAPER["srresnet"].loss == "mse" and PAPER["srresnet"].iters == 1_000_000
    d = PAPER["dan"]
    assert (d.batch_size, d.lr, d.betas, d.iters, d.lr_milestones, d.loss, d.degradation) == \
        (64, 4e-4, (0.9, 0.99), 400_000, (200_000,), "model", "gaussian")
    s = PAPER["srcnn"]
    assert (s.batch_size, s.optimizer, s.lr, s.loss, s.train_sets) == (128, "sgd", 1e-4, "euclidean", ("T91",))


def test_learning_rate_is_a_function_of_the_iteration() -> None:
    r = replace(PAPER["vdsr"])
    assert [lr_at(r, k) for k in (0, 2489, 2490, 4980, 9959)] == pytest.approx([0.1, 0.1, 0.01, 0.001, 0.0001])


def test_settings_and_bad_recipes_give_one_line_errors() -> None:
    r = with_settings(get_recipe("edsr-baseline", "quick", 2), ["lr=2e-4", "model.n_feats=8", "optimizer=sgd"])
    assert r.lr == 2e-4 and r.options["n_feats"] == 8 and r.optimizer == "sgd"
    with pytest.raises(ConfigError, match="unknown recipe field"):
        with_settings(r, ["learning_rate=1"])
    with pytest.raises(ConfigError, match="not divisible"):
        get_recipe("edsr-baseline", "quick", 3, hr_patch=50)
    with pytest.raises(ConfigError, match="no preset for x3"):
        get_recipe("srresnet", "quick", 3)
    assert from_dict(as_dict(r)) == r
    assert structural_diff(as_dict(r), replace(r, iters=5)) == []
    assert structural_diff(as_dict(r), replace(r, lr=1.0)) == ["lr"]


def test_batches_depend_on_seed_and_iteration_only_and_shard_exactly() -> None:
    r = Recipe(model="edsr-baseline", train_sets=("Demo",), hr_patch=24, batch_size=4, val_set="Demo")
    a, b = PatchSampler(r), PatchSampler(r)
    assert torch.equal(a.batch(7).lr, b.batch(7).lr) and not torch.equal(a.batch(7).lr, a.batch(8).lr)
    halves = [a.batch(7, rank, 2) for rank in (0, 1)]
    assert torch.equal(torch.cat([h.hr for h in halves]), a.batch(7).hr)
    batch = a.batch(3)
    assert batch.lr.shape == (4, 3, 12, 12) and batch.hr.shape == (4, 3, 24, 24)
    # aligned: away from the patch border (where the patch lacks the image's context) the LR patch is the bicubic
    # downscale of the HR patch up to uint8 rounding
    from sr_lib.degrade import imresize

    down = imresize(batch.hr.double() * 255, 0.5)
    assert (down - batch.lr.double() * 255)[..., 3:-3, 3:-3].abs().max() <= 1.0


def test_multiscale_batches_and_blind_degradation() -> None:
    mdsr = Recipe(model="mdsr", scales=(2, 3, 4), multiscale="batch", train_sets=("Demo",), hr_patch=24,
                  batch_size=2, val_set="Demo")
    seen = {PatchSampler(mdsr).batch(k).scale for k in range(12)}
    assert seen == {2, 3, 4}
    vdsr = Recipe(model="vdsr", scales=(2, 3, 4), multiscale="item", train_sets=("Demo",), hr_patch=24,
                  batch_size=6, val_set="Demo")
    b = PatchSampler(vdsr).batch(0)
    assert b.lr.shape == b.hr.shape == (6, 1, 24, 24)
    dan = Recipe(model="dan-v1", degradation="gaussian", train_sets=("Demo",), hr_patch=24, batch_size=2,
                 kernel_size=21, val_set="Demo")
    b = PatchSampler(dan).batch(0)
    assert b.lr.shape == (2, 3, 12, 12) and b.hr.shape == (2, 3, 24, 24) and b.extras["kernel"].shape == (2, 21, 21)
    assert torch.allclose(b.extras["kernel"].sum((1, 2)), torch.ones(2))


def test_resume_after_sigkill_is_bit_identical(tmp_path: Path) -> None:
    args = ["--model", "srcnn", "--scale", "2", "--iters", "120", "--set", "val_every=10", *TINY]
    full = _cli(*args, "--out", str(tmp_path / "full"))
    killed = _cli(*args, "--out", str(tmp_path / "killed"))
    result = tmp_path / "killed" / "result.json"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a few checkpoints exist, mid-run
        if result.is_file() and json.loads(result.read_text() or "{}").get("final", {}).get("iteration", 0) >= 30:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    state = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert 0 < state["iteration"] < 120, "the run must be killed before it ends"
    assert full.wait() == 0, full.stderr.read()
    again = _cli(*args, "--out", str(tmp_path / "killed"))  # without --resume: refused
    assert again.wait() == 2 and "--resume" in again.stderr.read()
    resumed = _cli(*args, "--out", str(tmp_path / "killed"), "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = (tmp_path / "killed" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == list(range(5, 121, 5))
    res = json.loads((tmp_path / "killed" / "result.json").read_text())
    assert res["status"] == "complete" and res["final"]["iteration"] == 120 and res["provenance"]["git_commit"]


def test_resume_refuses_a_structurally_changed_recipe(tmp_path: Path) -> None:
    args = ["--model", "srcnn", "--scale", "2", "--iters", "10", "--set", "val_every=5", *TINY,
            "--out", str(tmp_path / "run")]
    assert _cli(*args).wait() == 0
    changed = _cli(*args, "--resume", "--set", "lr=0.5")
    assert changed.wait() == 2
    err = changed.stderr.read().strip().splitlines()
    assert len(err) == 1 and "recipe changed in lr" in err[0]
    longer = _cli(*[a if a != "10" else "15" for a in args], "--resume")  # more iterations: allowed
    assert longer.wait() == 0, longer.stderr.read()
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["iteration"] == 15


def test_ddp_two_processes_equal_one(tmp_path: Path) -> None:
    args = ["--model", "edsr-baseline", "--scale", "2", "--iters", "6", "--set", "val_every=6", "--set",
            "train_sets=('Demo',)", "--set", "val_set='Demo'", "--set", "model.n_feats=8", "--set",
            "model.n_resblocks=1", "--set", "batch_size=4", "--set", "hr_patch=16", "--device", "cpu"]
    one = _cli(*args, "--out", str(tmp_path / "one"))
    assert one.wait() == 0, one.stderr.read()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "sr_lib.cli", "train", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_model_loss_and_gan_and_ema_rules_train(tmp_path: Path) -> None:
    """Each update rule runs, changes the weights and records its history (tiny models, a few iterations)."""
    demo = dict(train_sets=("Demo",), val_set="Demo", iters=3, val_every=3, hr_patch=24, batch_size=2)
    cmsc = get_recipe("cmsc", "quick", 2, model_options=(("n_feats", 4), ("n_stages", 2),
                                                         ("n_modules_per_stage", 1)), **demo)
    gan = get_recipe("srgan", "quick", 4, model_options=(("nf", 4), ("nb", 1)), ema=0.9,
                     **{**demo, "hr_patch": 32})
    for recipe in (cmsc, gan):
        torch.manual_seed(recipe.seed)
        before = create_model(recipe.model, recipe.scale, options=recipe.options).state_dict()
        run = train(recipe, tmp_path / recipe.model, progress=False)
        after = run.model.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
        assert [h["iteration"] for h in run.result["history"]] == [0, 3]
        assert np.isfinite(run.result["final"]["val_psnr"])
    state = torch.load(tmp_path / "srresnet" / "last.pt", weights_only=True)
    assert set(state["optimizers"]) == {"model", "discriminator"} and "train_discriminator" in state


def test_gan_step_feeds_the_losses_logits_so_the_discriminator_learns() -> None:
    """The losses take logits: the discriminator built for training must return them (a probability fed to the
    softplus losses saturates, D(G(x)) sticks at 0 and the adversarial term sends no gradient to the generator).
    Real = noise patches, fake = the (blurry) generator output: D must separate them within a few updates, and the
    generator's adversarial term must then carry a gradient."""
    from sr_lib.train.loop import _build
    from sr_lib.train.patches import Batch

    recipe = get_recipe("srgan", "quick", 4, model_options=(("nf", 4), ("nb", 1)), disc_options=(("nf", 4), ("fc", 8)),
                        hr_patch=32, batch_size=4, adv_weight=1.0, content_loss="mse", lr=1e-3)
    model, step = _build(recipe, torch.device("cpu"))
    assert step.discriminator.output == "logits"
    g = torch.Generator().manual_seed(0)
    batch = Batch(lr=torch.rand(4, 3, 8, 8, generator=g), hr=torch.rand(4, 3, 32, 32, generator=g), scale=4)
    first = step(batch, 1e-3)
    for _ in range(15):
        last = step(batch, 1e-3)
    assert last["d_loss"] < 0.5 * first["d_loss"]  # started near 2 ln 2; D now tells real from fake
    assert last["adv"] > 1.0  # -log D(G(x)) grows as D rejects the fakes: the term now has a gradient
