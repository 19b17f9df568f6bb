"""timm-style tests over the whole model registry: every preset builds, runs forward and backward on CPU at a
tiny size, every parameter (except the official network's documented unused ones) gets a gradient, and the
output is ``scale`` times the input."""

from __future__ import annotations

import fnmatch

import pytest
import torch

from sr_lib.models import create_model, get_model_entry, list_models

CASES = [(name, scale) for name in list_models() for scale in get_model_entry(name).scales]


def _tiny_input(name: str, scale: int) -> torch.Tensor:
    entry = get_model_entry(name)
    h, w = entry.extra.get("tiny_input_hw", (12, 10))
    if entry.input.pre_upsample:
        h, w = h * scale, w * scale
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, entry.input.channels, h, w, generator=g) * entry.input.pixel_max


def test_registry_is_not_empty() -> None:
    assert "srcnn" in list_models()


@pytest.mark.parametrize("name,scale", CASES, ids=[f"{n}-x{s}" for n, s in CASES])
def test_forward_backward_every_parameter_gets_gradient(name: str, scale: int) -> None:
    entry = get_model_entry(name)
    torch.manual_seed(0)
    model = create_model(name, scale, tiny=True).train()
    x = _tiny_input(name, scale)
    out = entry.predict(model, x)
    h, w = x.shape[-2:]
    expected_hw = (h, w) if entry.input.pre_upsample else (h * scale, w * scale)
    assert out.shape[0] == 1 and tuple(out.shape[-2:]) == expected_hw
    assert out.shape[1] == entry.input.channels
    assert torch.isfinite(out).all()

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:  # interpolation baselines: nothing to learn, the network is the identity on its input
        assert entry.family == "bicubic" and torch.equal(out, x)
        return
    out.float().pow(2).mean().backward()
    no_grad = {n for n, p in params if p.grad is None}
    expected_unused = {n for n, _ in params if any(fnmatch.fnmatch(n, pat) for pat in entry.unused_parameters(scale))}
    assert no_grad == expected_unused, f"parameters without gradient: {sorted(no_grad ^ expected_unused)}"


@pytest.mark.parametrize("name", list_models())
def test_wrong_scale_is_a_clear_error(name: str) -> None:
    from sr_lib.errors import ConfigError

    with pytest.raises(ConfigError, match="no preset for x7"):
        create_model(name, 7)
