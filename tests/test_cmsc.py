"""CMSC (a documented reconstruction): every stage is predicted, the assembly is a normalised weighted average,
the multi-scale cross module is merge-and-run, the cascaded-supervision loss is what it says, and a tiny
training run lowers it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sr_lib.errors import ConfigError, DataError
from sr_lib.models import create_model, get_model_entry
from sr_lib.models.cmsc import CMSC, CMSCConfig, CMSCOutput, MSCModule, cascaded_supervision_loss

TINY = dict(n_feats=6, n_stages=3, n_modules_per_stage=2)


def _model(**overrides: object) -> CMSC:
    torch.manual_seed(0)
    return CMSC(CMSCConfig(**{**TINY, **overrides}))  # type: ignore[arg-type]


def test_every_stage_prediction_is_returned() -> None:
    model = _model()
    x = torch.rand(2, 1, 14, 12)
    out = model(x)
    assert isinstance(out, CMSCOutput)
    assert len(out.stages) == 3 == len(out.weights)
    assert all(y.shape == x.shape for y in out.stages) and out.output.shape == x.shape
    # the stages differ (each is a further refinement of the features)
    assert not torch.allclose(out.stages[0], out.stages[1])


def test_lr_input_mode_upsamples_every_stage() -> None:
    model = _model(input_mode="lr", scale=3, share_reconstruction=False)
    out = model(torch.rand(1, 1, 7, 5))
    assert [tuple(y.shape) for y in out.stages] == [(1, 1, 21, 15)] * 3
    assert len(model.tail) == 3


@pytest.mark.parametrize("learn", [True, False])
def test_assembly_weights_are_normalised(learn: bool) -> None:
    model = _model(learn_assembly_weights=learn, assembly_init=(1.0, 2.0, 5.0))
    torch.testing.assert_close(model.assembly_weights, torch.tensor([0.125, 0.25, 0.625]))
    names = {n for n, _ in model.named_parameters()}
    assert ("assembly_logits" in names) == learn
    with torch.no_grad():
        model.assembly_logits.copy_(torch.tensor([3.0, -1.0, 0.5]))
    w = model.assembly_weights
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))
    torch.testing.assert_close(_model().assembly_weights, torch.full((3,), 1 / 3))


def test_output_is_the_weighted_sum_of_stage_predictions() -> None:
    model = _model().double()
    with torch.no_grad():
        model.assembly_logits.copy_(torch.tensor([0.3, -0.7, 1.1]))
    out = model(torch.rand(1, 1, 10, 9, dtype=torch.float64))
    w = torch.softmax(torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64), 0)
    torch.testing.assert_close(out.weights, w)
    torch.testing.assert_close(out.output, sum(wi * yi for wi, yi in zip(w, out.stages)))


def test_registry_predict_returns_the_assembled_image() -> None:
    entry = get_model_entry("cmsc")
    assert entry.scales == (2, 3, 4) and entry.tile_safe
    assert (entry.input.color, entry.input.pre_upsample, entry.input.pixel_max) == ("y", True, 1.0)
    torch.manual_seed(0)
    model = create_model("cmsc", 2, tiny=True).eval()
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(entry.predict(model, x), model(x).output)


def test_msc_module_is_merge_and_run() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    for cross in (True, False):
        module = MSCModule(4, (3, 5), convs_per_branch=2, cross=cross, act="relu")
        assert module.branch_small[0].kernel_size == (3, 3) and module.branch_large[0].kernel_size == (5, 5)
        ya, yb = module(a, b)
        skip_a, skip_b = ((a + b) / 2, (a + b) / 2) if cross else (a, b)
        torch.testing.assert_close(ya, module.branch_small(a) + skip_a)
        torch.testing.assert_close(yb, module.branch_large(b) + skip_b)


def test_residual_features_identity_skip() -> None:
    # with every sub-network's fusion zeroed, each stage passes its features through unchanged
    model = _model()
    with torch.no_grad():
        for stage in model.body:
            stage.fuse.weight.zero_()
            stage.fuse.bias.zero_()
    out = model(torch.rand(1, 1, 8, 8))
    for y in out.stages[1:]:
        torch.testing.assert_close(y, out.stages[0])


def test_cascaded_supervision_loss() -> None:
    model = _model()
    x, t = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    out = model(x)
    expected = sum(0.5 * F.mse_loss(y, t) for y in out.stages) + 2.0 * F.mse_loss(out.output, t)
    torch.testing.assert_close(cascaded_supervision_loss(out, t, stage_weights=0.5, assembled_weight=2.0), expected)
    expected_l1 = sum(w * F.l1_loss(y, t) for w, y in zip((1.0, 0.0, 3.0), out.stages)) + F.l1_loss(out.output, t)
    got = cascaded_supervision_loss(out, t, stage_weights=(1.0, 0.0, 3.0), criterion="l1")
    torch.testing.assert_close(got, expected_l1)
    with pytest.raises(ConfigError):
        cascaded_supervision_loss(out, t, stage_weights=(1.0, 1.0))
    with pytest.raises(DataError):
        cascaded_supervision_loss(out, torch.rand(1, 1, 8, 9))


def test_bad_configs_and_inputs() -> None:
    for bad in (dict(n_stages=0), dict(kernel_sizes=(3, 4)), dict(assembly_init=(1.0, 1.0)),
                dict(assembly_init=(1.0, 0.0, 1.0)), dict(input_mode="lr", scale=5), dict(act="gelu")):
        with pytest.raises(ConfigError):
            _model(**bad)
    with pytest.raises(DataError):
        _model()(torch.rand(1, 3, 8, 8))


def test_tiny_training_run_lowers_the_loss() -> None:
    # a seeded CPU run: 25 Adam steps on two smooth 16x16 images whose input is a blurred copy (pre-upsampled
    # convention); one thread, since such tiny convolutions only lose time to thread synchronisation
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(0)
        hr = F.interpolate(torch.rand(2, 1, 4, 4, generator=g), size=(16, 16), mode="bicubic", align_corners=False)
        hr = hr.clamp(0, 1)
        lr_up = F.interpolate(F.avg_pool2d(hr, 2), scale_factor=2, mode="bilinear", align_corners=False)
        model = CMSC(CMSCConfig(n_feats=8, n_stages=2, n_modules_per_stage=2))
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        losses = []
        for _ in range(25):
            loss = cascaded_supervision_loss(model(lr_up), hr)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0], losses
