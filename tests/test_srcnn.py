"""SRCNN: the official MATLAB weights load into our model exactly as the official forward uses them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.io import loadmat

from conftest import require_dir
from sr_lib.errors import WeightsError
from sr_lib.imageio import sha256_file
from sr_lib.models.srcnn import SRCNN, SRCNNConfig, load_srcnn_mat, state_dict_from_mat


def test_manifest_keys_shapes_and_count(weights_dir) -> None:
    manifest = json.loads((require_dir("SR_GOLDEN_DIR", "srcnn") / "manifest_955_ImageNet.json").read_text())
    for scale in (2, 3, 4):
        path = weights_dir / "srcnn" / "9-5-5_ImageNet" / f"x{scale}.mat"
        state = state_dict_from_mat(path)
        expected = {k: list(shape) for k, shape, *_ in manifest["state_dict"]}
        assert {k: list(v.shape) for k, v in state.items()} == expected
        assert sum(v.numel() for v in state.values()) == manifest["n_params_total"] == 57281
        hashes = json.dumps(manifest["mat_files"])
        assert sha256_file(path) in hashes


def test_column_major_mapping_by_hand(weights_dir) -> None:
    path = weights_dir / "srcnn" / "9-5-5_ImageNet" / "x3.mat"
    mat = loadmat(str(path))
    state = state_dict_from_mat(path)
    # conv1 filter 7, tap (row 2, col 5) is element 5*9 + 2 of MATLAB's column-major vector
    assert state["conv1.weight"][7, 0, 2, 5].item() == pytest.approx(mat["weights_conv1"][5 * 9 + 2, 7], rel=1e-6)
    # conv2: output 3, input 10, tap (1, 4) -> weights_conv2[10, 4*5 + 1, 3]
    assert state["conv2.weight"][3, 10, 1, 4].item() == pytest.approx(mat["weights_conv2"][10, 4 * 5 + 1, 3], rel=1e-6)
    assert state["conv3.weight"][0, 30, 4, 0].item() == pytest.approx(mat["weights_conv3"][30, 0 * 5 + 4], rel=1e-6)


def test_other_variants_load_with_their_kernel_sizes(weights_dir) -> None:
    assert load_srcnn_mat(weights_dir / "srcnn" / "9-3-5_ImageNet" / "x3.mat").config.f2 == 3
    assert load_srcnn_mat(weights_dir / "srcnn" / "9-1-5_91images" / "x2.mat").config.f2 == 1


def test_replicate_padding_is_matlab_imfilter_replicate() -> None:
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig(n1=4, n2=3)).double()
    x = torch.rand(1, 1, 14, 11, dtype=torch.float64)
    # imfilter(x, k, 'same', 'replicate') == correlation of the edge-padded image, 'valid'
    pad = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="replicate")
    ref = torch.nn.functional.conv2d(pad, model.conv1.weight, model.conv1.bias)
    torch.testing.assert_close(model.conv1(x), ref)
    assert model(x).shape == x.shape


def test_bad_mat_file_is_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "x2.mat"
    bad.write_bytes(b"not a mat file at all")
    with pytest.raises(WeightsError, match="not a readable MATLAB"):
        state_dict_from_mat(bad)
    with pytest.raises(WeightsError, match="not found"):
        state_dict_from_mat(tmp_path / "missing.mat")
    from scipy.io import savemat

    savemat(str(tmp_path / "other.mat"), {"weights_conv1": np.zeros((81, 4))})
    with pytest.raises(WeightsError, match="missing"):
        state_dict_from_mat(tmp_path / "other.mat")
