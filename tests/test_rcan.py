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

