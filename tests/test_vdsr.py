"""VDSR: structure of both presets, and the official (legacy-pickle) checkpoint read without executing it."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import require_dir
from sr_lib.errors import WeightsError
from sr_lib.models import create_model
from sr_lib.complexity import count_parameters
from sr_lib.models.vdsr import VDSR, VDSR_EPOCH50_SHA256, load_vdsr_legacy_pickle, load_vdsr_weights


def test_paper_and_reimplementation_parameter_counts() -> None:
    assert count_parameters(create_model("vdsr", 2)) == 665_921  # 20 conv layers with biases (paper)
    assert count_parameters(create_model("vdsr-nobias", 4)) == 664_704  # twtygqyy/pytorch-vdsr


def test_state_dict_order_is_official() -> None:
    keys = list(VDSR().state_dict())
    assert keys[:18] == [f"residual_layer.{i}.conv.weight" for i in range(18)]
    assert keys[18:] == ["input.weight", "output.weight"]


def test_global_residual_and_zero_padding() -> None:
    model = VDSR(depth=3, n_feats=4)
    torch.nn.init.zeros_(model.output.weight)
    x = torch.rand(1, 1, 9, 7)
    assert torch.equal(model(x), x)  # f(x) = 0 -> identity
    # zero padding: with all-one kernels a constant image gets smaller responses at the border
    model = VDSR(depth=2, n_feats=1)
    with torch.no_grad():
        model.input.weight.fill_(1.0)
        model.output.weight.fill_(1.0)
    y = model(torch.ones(1, 1, 8, 8))[0, 0]
    assert y[0, 0] == 1 + (4 + 6 + 6 + 9) and y[4, 4] == 1 + 81


@pytest.fixture
def vdsr_file() -> Path:
    return require_dir("SR_WEIGHTS_DIR", "vdsr", "model_epoch_50.pth")


def test_official_checkpoint_loads_strictly_and_restores_images(vdsr_file: Path) -> None:
    assert hashlib.sha256(vdsr_file.read_bytes()).hexdigest() == VDSR_EPOCH50_SHA256
    state = load_vdsr_legacy_pickle(vdsr_file)
    assert list(state) == list(VDSR().state_dict())
    model = create_model("vdsr-nobias", 2)
    model.load_state_dict(state, strict=True)
    # the trained network sharpens: on a synthetic x2 bicubic-degraded image it clearly beats bicubic
    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    hr = 0.2 + 0.5 * (((xx - 24) ** 2 + (yy - 20) ** 2) < 150).float() + 0.2 * ((xx + yy) % 16 < 8).float()
    hr = hr[None, None]
    lr = F.interpolate(hr, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    upscaled = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    with torch.no_grad():
        sr = load_vdsr_weights(vdsr_file)(upscaled)

    def mse(img: torch.Tensor) -> float:
        return float(((img - hr)[..., 4:-4, 4:-4] ** 2).mean())

    assert mse(sr) < 0.75 * mse(upscaled)  # measured: 0.0018 vs 0.0036


def test_wrong_sha256_is_refused_unless_disabled(vdsr_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model.pth"
    copy.write_bytes(vdsr_file.read_bytes())
    with pytest.raises(WeightsError, match="sha256"):
        load_vdsr_legacy_pickle(copy, expected_sha256="ab" * 32)
    assert len(load_vdsr_legacy_pickle(copy, expected_sha256=None)) == 20


def test_corrupt_file_is_one_line_error(vdsr_file: Path, tmp_path: Path) -> None:
    data = bytearray(vdsr_file.read_bytes())
    path = tmp_path / "cut.pth"
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(WeightsError) as info:
        load_vdsr_legacy_pickle(path, expected_sha256=None)
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError, match="sha256"):  # the default hash catches it first
        load_vdsr_legacy_pickle(path)


def test_other_legacy_content_is_not_a_vdsr_checkpoint(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    checkpoint = {"epoch": 1, "model": {"input.weight": torch.zeros(64, 1, 3, 3)}}
    torch.save(checkpoint, buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "other.pth"
    path.write_bytes(buf.getvalue())
    with pytest.raises(WeightsError, match="not a pytorch-vdsr checkpoint"):
        load_vdsr_legacy_pickle(path, expected_sha256=None)


def test_malicious_file_is_refused_before_the_hash_is_even_relevant(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # type: ignore[override]
            import os

            return (os.system, (f"touch {marker}",))

    from sr_lib.safe_pickle import LEGACY_MAGIC_NUMBER

    header = pickle.dumps(LEGACY_MAGIC_NUMBER, 2) + pickle.dumps(1001, 2) + pickle.dumps({"little_endian": True}, 2)
    path = tmp_path / "model_epoch_50.pth"
    path.write_bytes(header + pickle.dumps({"epoch": 50, "model": Payload()}, 2) + pickle.dumps([], 2))
    with pytest.raises(WeightsError, match="system"):
        load_vdsr_legacy_pickle(path, expected_sha256=None)
    with pytest.raises(WeightsError, match="sha256"):
        load_vdsr_weights(path)
    assert not marker.exists()
