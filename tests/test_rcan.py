"""RCAN specifics (golden outputs and manifests are in tests/test_golden.py and tests/test_manifests.py)."""

from __future__ import annotations

import pytest
import torch

from sr_lib.errors import ConfigError
from sr_lib.models.rcan import RCAN, RCANConfig, config_from_official_args


def _tiny(**overrides: object) -> RCAN:
    torch.manual_seed(0)
    return RCAN(RCANConfig(scale=2, n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4, **overrides)).eval()


def test_res_scale_is_ignored_like_the_official_code() -> None:
    x = torch.rand(1, 3, 6, 5) * 255
    with torch.no_grad():
        reference = _tiny()(x)
        torch.testing.assert_close(_tiny(res_scale=0.1)(x), reference, rtol=0, atol=0)
        assert not torch.allclose(_tiny(res_scale=0.1, apply_res_scale=True)(x), reference)


def test_official_args_are_checked() -> None:
    args = {"scale": [3], "n_resgroups": 2, "n_resblocks": 2, "n_feats": 16, "reduction": 4, "res_scale": 1,
            "rgb_range": 255, "n_colors": 3}
    assert config_from_official_args(args).scale == 3
    with pytest.raises(ConfigError, match="unknown official constructor argument"):
        config_from_official_args({**args, "n_resgroup": 2})
    with pytest.raises(ConfigError, match="x5"):
        RCANConfig(scale=5)



def test_ablation_switches_remove_exactly_their_part() -> None:
    """Chapter 5's ablations (RCAN Table 1): no CA drops only the attention weights; no SSC / no LSC keep every
    weight and drop only the additions."""
    from dataclasses import replace

    torch.manual_seed(0)
    cfg = RCANConfig(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)
    full = RCAN(cfg).eval()
    no_ca = RCAN(replace(cfg, channel_attention=False))
    removed = set(full.state_dict()) - set(no_ca.state_dict())
    assert removed and set(no_ca.state_dict()) < set(full.state_dict())
    assert all(".body.3.conv_du." in k for k in removed)  # the CALayer of every RCAB, nothing else
    no_ssc, no_lsc = RCAN(replace(cfg, short_skip=False)).eval(), RCAN(replace(cfg, long_skip=False)).eval()
    no_ssc.load_state_dict(full.state_dict())
    no_lsc.load_state_dict(full.state_dict())
    x = torch.rand(1, 3, 8, 8) * 255
    with torch.no_grad():
        f = full.head(full.sub_mean(x))
        group = full.body[0]
        assert torch.allclose(no_ssc.body[0](f), group.body(f)) and not torch.allclose(group(f), group.body(f))
        assert torch.allclose(no_lsc(x), full.add_mean(full.tail(full.body(f))), atol=1e-4)
        assert not torch.allclose(no_lsc(x), full(x), atol=1e-2)
