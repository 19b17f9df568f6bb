"""The protocol reproduces the papers' tables: bicubic rows and the official SRCNN weights (data tests).

The bicubic rows and SRCNN's numbers were computed by the SRCNN-era MATLAB scripts, which degrade in double
precision and never round the LR image (protocol ``matlab-y``); pytorch-vdsr's numbers come from its Python
``eval.py``, where nothing is rounded (protocol ``float``). With the rounded ``uint8`` LR files (``standard``)
the same methods score lower, which the last test documents.
"""

from __future__ import annotations

import pytest

from sr_lib.evaluate import evaluate_model
from sr_lib.papers import paper_psnr


def paper_row(model: str, scale: int, dataset: str) -> float:
    value = paper_psnr(model, scale, dataset)
    assert value is not None, f"{model} x{scale} {dataset} missing from sr_lib/resources/paper_results.csv"
    return value


BICUBIC_CASES = [(s, d) for s in (2, 3, 4) for d in ("Set5", "Set14", "B100")]


@pytest.mark.data
@pytest.mark.parametrize("scale", (2, 3, 4))
def test_bicubic_equals_paper_rows(data_dir, scale: int) -> None:
    sets = [d for s, d in BICUBIC_CASES if s == scale]
    res = evaluate_model("bicubic", scale, sets, data_dir=data_dir, protocol="matlab-y")
    for ds in sets:
        expected = paper_row("Bicubic", scale, ds)
        assert abs(res["datasets"][ds]["psnr"] - expected) <= 0.01, (ds, res["datasets"][ds]["psnr"], expected)


@pytest.mark.data
@pytest.mark.parametrize("scale", (2, 3, 4))
def test_official_srcnn_equals_paper(data_dir, weights_dir, scale: int) -> None:
    res = evaluate_model("srcnn", scale, ["Set5", "Set14"], weights_dir / "srcnn" / "9-5-5_ImageNet" / f"x{scale}.mat",
                         data_dir=data_dir, protocol="matlab-y")
    for ds in ("Set5", "Set14"):
        expected = paper_row("SRCNN", scale, ds)  # the TPAMI 9-5-5 (ImageNet) model
        assert abs(res["datasets"][ds]["psnr"] - expected) <= 0.01, (ds, res["datasets"][ds]["psnr"], expected)


@pytest.mark.data
def test_rounded_lr_files_score_lower_for_bicubic(data_dir) -> None:
    exact = evaluate_model("bicubic", 2, ["Set5"], data_dir=data_dir, protocol="matlab-y")["datasets"]["Set5"]["psnr"]
    files = evaluate_model("bicubic", 2, ["Set5"], data_dir=data_dir, protocol="standard")["datasets"]["Set5"]["psnr"]
    assert files < exact - 0.005


VDSR_CLAIMED = {2: 37.65, 3: 33.77, 4: 31.45}  # twtygqyy/pytorch-vdsr README, shared/weights/README.md


@pytest.mark.data
@pytest.mark.parametrize("scale", (2, 3, 4))
def test_pytorch_vdsr_weights_equal_claimed_numbers_via_cli(data_dir, weights_dir, tmp_path, scale: int) -> None:
    """The literal command of the book: ``sr-lib eval --model vdsr-nobias --lr-precision float``."""
    import json

    from sr_lib.cli import main

    out = tmp_path / "vdsr.json"
    rc = main(["eval", "--model", "vdsr-nobias", "--scale", str(scale), "--dataset", "Set5", "--weights",
               str(weights_dir / "vdsr" / "model_epoch_50.pth"), "--data-dir", str(data_dir),
               "--lr-precision", "float", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert abs(res["datasets"]["Set5"]["psnr"] - VDSR_CLAIMED[scale]) <= 0.01
    assert res["provenance"]["config"]["protocol"]["name"] == "float"
