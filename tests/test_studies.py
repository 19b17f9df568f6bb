"""The chapters' multi-seed experiments: every arm is a valid recipe, the league spends one budget, and a (tiny)
campaign trains, evaluates, skips what is finished, chains x2 -> x4 initialisation and reports divergence."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_lib.errors import ConfigError
from sr_lib.models import create_model
from sr_lib.results import ResultsError
from sr_lib.train import get_recipe, studies
from sr_lib.train.loop import training_macs_per_iteration
from sr_lib.train.steps import pixel_loss


def test_every_study_names_known_arms_and_every_arm_is_a_valid_recipe() -> None:
    table = studies.arms()
    for study in studies.STUDIES.values():
        assert study.arms and all(a in table for a in study.arms), study.name
        assert study.chapter in ("03_vdsr", "04_edsr", "05_rcan", "06_csnln", "07_msrn", "08_srgan", "09_dan"), study.name
        assert study.claim.endswith(")."), study.name
    for arm in table.values():
        arm.recipe.check()
        assert arm.recipe.train_sets == ("T91", "BSD200"), arm.name
        for scale in arm.scales:  # every evaluated scale can be built
            create_model(arm.recipe.model, scale, options=arm.recipe.options)
    with pytest.raises(ConfigError, match="unknown study"):
        studies.get_study("vdsr-nonexistent")


def test_studies_change_only_what_they_compare() -> None:
    """The arms of a study differ from each other only in the fields the claim is about."""
    from sr_lib.train.recipes import as_dict

    def diff(a: str, b: str) -> set[str]:
        x, y = as_dict(studies.get_arm(a).recipe), as_dict(studies.get_arm(b).recipe)
        return {k for k in x if x[k] != y[k]}

    assert diff("vdsr-d10", "vdsr-d10-plain") == {"model_options"}
    assert diff("vdsr-d5", "vdsr-d20") == {"model_options"}
    assert diff("vdsr-sgd-clip", "vdsr-sgd-noclip") == {"clip_adjustable"}
    assert diff("edsr-x2", "edsr-x2-bn") == {"model_options"} and diff("edsr-x2", "edsr-x2-l2") == {"loss"}
    assert diff("edsr-wide-rs1", "edsr-wide-rs0.1") == {"model_options"}
    assert diff("edsr-x4", "edsr-x4-from-x2") == set()  # the initialisation is added per seed
    mdsr = studies.get_arm("mdsr-x234").recipe  # the training MACs of the three single-scale runs together
    singles = sum(training_macs_per_iteration(studies.get_arm(f"edsr-x{s}").recipe) * 600 for s in (2, 3, 4))
    assert abs(training_macs_per_iteration(mdsr) * mdsr.iters - singles) <= training_macs_per_iteration(mdsr) / 2
    assert mdsr.train_scales == (2, 3, 4) and diff("edsr-x2", "mdsr-x234") >= {"model", "iters", "scales"}
    for a, b in [("rcan-full", "rcan-no-lsc"), ("rcan-full", "rcan-no-ssc"), ("rcan-full", "rcan-no-ca"),
                 ("rcan-full", "rcan-none"), ("san-second-order", "san-first-order"),
                 ("csnln-cross-scale", "csnln-in-scale"), ("msrn-msrb", "msrn-plain"), ("msrn-msrb", "msrn-no-hff")]:
        assert diff(a, b) == {"model_options"}, (a, b)


def test_ablations_keep_the_size_they_claim_to_keep() -> None:
    """Second- vs first-order attention and cross- vs in-scale attention: the same parameters; plain residual
    blocks: the MSRB's weights within 4%; CMSC: MSRN's training multiply-accumulates within one update."""
    from sr_lib.complexity import count_parameters

    def size(arm: str) -> int:
        r = studies.get_arm(arm).recipe
        return count_parameters(create_model(r.model, r.scale, options=r.options))

    assert size("san-second-order") == size("san-first-order")
    assert size("csnln-cross-scale") == size("csnln-in-scale")
    assert abs(size("msrn-plain") / size("msrn-msrb") - 1) < 0.04
    assert size("msrn-no-hff") < size("msrn-msrb") and size("rcan-no-ca") < size("rcan-full")
    cmsc, msrn = studies.get_arm("cmsc-equal-compute").recipe, studies.get_arm("msrn-msrb").recipe
    per_it = training_macs_per_iteration(cmsc)
    assert abs(per_it * cmsc.iters - training_macs_per_iteration(msrn) * msrn.iters) <= per_it / 2


def test_league_entries_spend_the_same_budget() -> None:
    for family in studies.LEAGUE_FAMILIES:
        r = studies.league_recipe(family)
        per_it = training_macs_per_iteration(r)
        assert 0 <= studies.LEAGUE_BUDGET_MACS - per_it * r.iters < per_it, family
        assert r.train_sets == ("T91", "BSD200") and r.scale == studies.LEAGUE_SCALE and r.lr_milestones


def test_euclidean_loss_is_caffes() -> None:
    out, target = torch.rand(4, 1, 5, 5), torch.rand(4, 1, 5, 5)
    expected = ((out - target) ** 2).sum() / 8
    assert torch.allclose(pixel_loss("euclidean", out, target), expected)
    assert torch.allclose(pixel_loss("euclidean", out, target), pixel_loss("mse", out, target) * 25 / 2)


def _tiny(recipe, **kw):
    return replace(recipe, train_sets=("Demo",), val_set="Demo", iters=4, val_every=2, log_every=2, batch_size=4,
                   **kw)


@pytest.fixture
def tiny_arms(monkeypatch: pytest.MonkeyPatch) -> dict[str, studies.Arm]:
    edsr = dict(model_options=(("n_feats", 8), ("n_resblocks", 1)), hr_patch=24)
    table = {
        "t-x2": studies.Arm("t-x2", "x2", _tiny(get_recipe("edsr-baseline", "quick", 2), **edsr), eval_sets=("Demo",),
                            self_ensemble=True),
        "t-x4": studies.Arm("t-x4", "x4 from x2", _tiny(get_recipe("edsr-baseline", "quick", 4), **edsr),
                            eval_sets=("Demo",), init_arm="t-x2", init_skip=("tail.0.2",)),
        "t-boom": studies.Arm("t-boom", "diverges", _tiny(get_recipe("vdsr", "quick", 2), optimizer="sgd", lr=1e6,
                              loss="euclidean", clip_norm=None, hr_patch=24,
                              model_options=(("depth", 3), ("n_feats", 4))), eval_sets=("Demo",)),
    }
    monkeypatch.setattr(studies, "arms", lambda: table)
    return table


def test_a_campaign_trains_evaluates_and_skips_what_is_finished(tiny_arms, tmp_path: Path) -> None:
    lines: list[str] = []
    studies.run_arm(tiny_arms["t-x4"], 0, tmp_path, log=lines.append)  # trains t-x2 first: its weights start t-x4
    x2, x4 = studies.run_dir(tmp_path, tiny_arms["t-x2"], 0), studies.run_dir(tmp_path, tiny_arms["t-x4"], 0)
    assert json.loads((x2 / "result.json").read_text())["status"] == "complete"
    result = json.loads((x4 / "result.json").read_text())
    assert result["recipe"]["init_from"] == str(x2 / "last.pt") and result["recipe"]["init_skip"] == ["tail.0.2"]
    for path in (x2 / "eval_x2.json", x2 / "eval_x2_plus.json", x4 / "eval_x4.json"):
        res = json.loads(path.read_text())
        assert res["kind"] == "eval" and res["provenance"]["config"]["weights_sha256"] and "Demo" in res["datasets"]
    assert json.loads((x2 / "eval_x2_plus.json").read_text())["provenance"]["config"]["self_ensemble"] is True
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    lines.clear()
    studies.run_arm(tiny_arms["t-x4"], 0, tmp_path, log=lines.append)
    assert lines == [] and before == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    rows = studies.summary_rows(["t-x2", "t-x4"], tmp_path, datasets=("Demo",))
    assert [r["seeds"] for r in rows] == [1, 1] and [r["iterations"] for r in rows] == [4, 4]
    assert math.isfinite(rows[0]["Demo PSNR"]) and math.isnan(rows[0]["Demo std"])  # one seed: no std
    plus = studies.summary_rows(["t-x2"], tmp_path, datasets=("Demo",), self_ensemble=True)[0]["Demo PSNR"]
    assert plus == json.loads((x2 / "eval_x2_plus.json").read_text())["datasets"]["Demo"]["psnr"]


def test_a_diverged_run_is_reported_not_retried(tiny_arms, tmp_path: Path) -> None:
    lines: list[str] = []
    studies.run_arm(tiny_arms["t-boom"], 0, tmp_path, log=lines.append)
    run = studies.run_dir(tmp_path, tiny_arms["t-boom"], 0)
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "diverged" and result["final"]["val_psnr"] is None
    assert not list(run.glob("eval_*.json")) and any("diverged" in line for line in lines)
    lines.clear()
    studies.run_arm(tiny_arms["t-boom"], 0, tmp_path, log=lines.append)
    assert lines == []
    row = studies.summary_rows(["t-boom"], tmp_path, datasets=("Demo",))[0]
    assert row["diverged"] == 1 and math.isnan(row["Demo PSNR"])
    with pytest.raises(ResultsError, match="no results files"):
        studies.summary_rows(["t-x2"], tmp_path)


def test_cli_lists_and_refuses_an_empty_or_unknown_campaign() -> None:
    import subprocess
    import sys

    run = lambda *a: subprocess.run([sys.executable, "-m", "sr_lib.cli", "experiments", *a],  # noqa: E731
                                    capture_output=True, text=True)
    listed = run("list")
    assert listed.returncode == 0 and "vdsr-residual" in listed.stdout and "league-edsr-baseline" in listed.stdout
    for args, message in ((("run",), "nothing to run"), (("run", "--study", "nope"), "unknown study 'nope'")):
        out = run(*args)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_compare_decides_only_with_two_standard_errors() -> None:
    held = studies.compare([30.0, 30.2, 30.1], [29.0, 29.1, 28.9])
    assert held.held and held.verdict == "held" and abs(held.diff - 1.1) < 1e-9
    assert studies.compare([30.0, 31.0], [30.1, 30.2]).verdict.startswith("not held (the difference is within")
    assert studies.compare([29.0, 29.1], [30.0, 30.1]).verdict == "not held (the other way round)"
    assert studies.compare([30.0], [29.0]).verdict.startswith("not decided")
    paired = studies.compare([30.1, 31.1, 32.1], [30.0, 31.0, 32.0], paired=True)  # same models, +0.1 each
    assert paired.held and paired.se < 1e-9 and not studies.compare([30.1, 31.1, 32.1], [30.0, 31.0, 32.0]).held
    with pytest.raises(ConfigError, match="paired"):
        studies.compare([1.0], [1.0, 2.0], paired=True)


def test_gan_arms_and_their_interpolation_measure_psnr_and_niqe(monkeypatch, tmp_path: Path, weights_dir) -> None:
    """Chapter 8's pipeline on a tiny scale: an MSE generator, a GAN generator started from it, and their network
    interpolation (no training of its own) are each evaluated with PSNR and NIQE; the interpolation is read back."""
    g = dict(model_options=(("nf", 8), ("nb", 1)), hr_patch=32)
    mse = studies.Arm("t-mse", "MSE", _tiny(get_recipe("srresnet", "quick", 4), loss="mse", **g), eval_sets=("Demo",),
                      niqe=True)
    gan_recipe = _tiny(get_recipe("srgan", "quick", 4), content_loss="mse", adv_weight=0.1,
                       disc_options=(("nf", 4), ("fc", 8)), **g)
    gan = studies.Arm("t-gan", "GAN", gan_recipe, eval_sets=("Demo",), niqe=True, init_arm="t-mse")
    half = studies.Arm("t-half", "alpha 0.5", gan_recipe, eval_sets=("Demo",), niqe=True,
                       interpolate=("t-mse", "t-gan", 0.5))
    table = {a.name: a for a in (mse, gan, half)}
    monkeypatch.setattr(studies, "arms", lambda: table)
    lines: list[str] = []
    studies.run_arm(half, 0, tmp_path, log=lines.append)  # trains both end points first
    for arm in (mse, gan, half):
        res = json.loads(studies.eval_path(tmp_path, arm, 0, 4).read_text())
        demo = res["datasets"]["Demo"]
        assert demo["niqe"] == pytest.approx(np.mean([v["niqe"] for v in demo["per_image"].values()]))
        assert res["provenance"]["config"]["niqe_model_sha256"]
    assert not (studies.run_dir(tmp_path, half, 0) / "result.json").exists()  # interpolated, not trained
    interp = json.loads(studies.eval_path(tmp_path, half, 0, 4).read_text())
    assert interp["interpolated"] == {"alpha": 0.5, "from": "t-mse", "to": "t-gan"}
    assert len(interp["provenance"]["config"]["weights_sha256"]) == 2
    rows = studies.summary_rows(["t-mse", "t-half"], tmp_path, datasets=("Demo",))
    assert [r["seeds"] for r in rows] == [1, 1] and rows[1]["iterations"] == 0
    assert studies.load_arm("t-half", tmp_path).metric("niqe", "Demo") == [interp["datasets"]["Demo"]["niqe"]]
    assert any("NIQE" in line for line in lines)


def test_interpolate_weights_is_a_per_parameter_lerp() -> None:
    a = {"w": torch.zeros(2, 3), "n": torch.tensor(3)}
    b = {"w": torch.ones(2, 3), "n": torch.tensor(5)}
    assert torch.equal(studies.interpolate_weights(a, b, 0.0)["w"], a["w"])
    assert torch.equal(studies.interpolate_weights(a, b, 1.0)["w"], b["w"])
    half = studies.interpolate_weights(a, b, 0.25)
    assert torch.allclose(half["w"], torch.full((2, 3), 0.25)) and half["n"] == 3  # integer buffers are kept
    with pytest.raises(ConfigError, match="same architecture"):
        studies.interpolate_weights(a, {"w": torch.ones(3, 2), "n": torch.tensor(5)}, 0.5)
    with pytest.raises(ConfigError, match="alpha"):
        studies.interpolate_weights(a, b, 1.5)


def test_dan_arms_write_gaussian8_and_unrolled_step_files(monkeypatch, tmp_path: Path, weights_dir) -> None:
    """Chapter 9's pipeline on a tiny scale: a DAN trained on random blurs is evaluated blind and with the true kernel
    on Gaussian8, and its unrolled steps (PSNR, estimated kernels past the trained loop) are recorded."""
    from sr_lib.blind import sigma_key
    from sr_lib.degrade.kernels import gaussian8_sigmas
    from sr_lib.imageio import write_image

    data = tmp_path / "data"  # a one-image "Set5" keeps the 8 Gaussian8 evaluations small
    write_image(data / "Set5" / "HR" / "a.png", np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8))
    recipe = replace(_tiny(get_recipe("dan", "quick", 2), model_options=(("nf", 16), ("nb", 1), ("loop", 2)),
                           hr_patch=32), val_every=1000)
    arm = studies.Arm("t-dan", "DAN", recipe, eval_sets=("Set5",), gaussian8=("blind", "oracle"), unrolled_steps=3)
    monkeypatch.setattr(studies, "arms", lambda: {"t-dan": arm})
    root = tmp_path / "results"
    studies.run_arm(arm, 0, root, data_dir=data, log=[].append)
    runs = studies.load_arm("t-dan", root)
    blind, oracle = runs.gaussian8[0, "blind"], runs.gaussian8[0, "oracle"]
    assert blind["mode"] == "blind" and oracle["mode"] == "oracle" and blind["provenance"]["config"]["weights_sha256"]
    keys = [sigma_key(s) for s in gaussian8_sigmas(2)]
    assert list(blind["datasets"]["Set5"]["per_sigma"]) == keys and blind["datasets"]["Set5"]["pairs"] == 8
    assert blind["datasets"]["Set5"]["per_image"] != oracle["datasets"]["Set5"]["per_image"]
    steps = runs.steps[0]
    assert steps["iterations"] == [1, 2, 3] and steps["trained_loop"] == 2 and len(steps["psnr"]) == 3
    assert list(steps["kernels"]) == keys and steps["image"] == "a"
    k = np.array(steps["kernels"][keys[0]]["estimated"])
    assert k.shape == (3, 21, 21) and np.array(steps["kernels"][keys[0]]["true"]).sum() == pytest.approx(1.0)
    assert list(steps["provenance"]["data_sha256"]) == [str(data / "Set5" / "HR" / "a.png")]
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.json")}
    studies.run_arm(arm, 0, root, data_dir=data, log=[].append)  # everything is there: nothing is redone
    assert before == {p: p.stat().st_mtime_ns for p in root.rglob("*.json")}
