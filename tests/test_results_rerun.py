"""The committed evaluation results re-run to the same numbers: bicubic and SRCNN on Set5 at x2 under every
protocol with a committed file, compared per image with ``==``; a changed number, a relocated or a different
weights file are each noticed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sr_lib import results

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
SAMPLE = sorted(RESULTS_DIR.glob("bicubic_x2_*.json")) + sorted(RESULTS_DIR.glob("srcnn_x2_*.json"))


def test_the_sample_covers_both_models_and_every_protocol() -> None:
    stems = {p.stem for p in SAMPLE}
    for model in ("bicubic", "srcnn"):
        assert {f"{model}_x2_standard", f"{model}_x2_matlab-y"} <= stems


@pytest.mark.data
@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.stem)
def test_committed_numbers_rerun_exactly(path: Path, data_dir: Path, weights_dir: Path) -> None:
    assert results.rerun_eval(path, datasets=["Set5"], data_dir=data_dir, weights_dir=weights_dir) == []


def _relocated_copy(tmp_path: Path, **config: object) -> tuple[Path, dict]:
    """The SRCNN x2 file with its weights recorded under a folder that does not exist here (another machine)."""
    recorded = results.read_results(RESULTS_DIR / "srcnn_x2_standard.json")
    cfg = recorded["provenance"]["config"]
    cfg.pop("weights_key", None)
    cfg["weights"] = "/another/machine/weights/srcnn/9-5-5_ImageNet/x2.mat"
    cfg.update(config)
    path = tmp_path / "srcnn_x2_standard.json"
    path.write_text(json.dumps(recorded))
    return path, recorded


def _as_made_here(tmp_path: Path, data_dir: Path, weights_dir: Path, cpu: str) -> tuple[Path, dict]:
    """The relocated SRCNN x2 file with this machine's own Set5 numbers, recorded as made on CPU model ``cpu``."""
    from sr_lib.evaluate import evaluate_model

    path, recorded = _relocated_copy(tmp_path)
    protocol = recorded["provenance"]["config"]["protocol"]["name"]
    now = evaluate_model("srcnn", 2, ["Set5"], weights_dir / "srcnn/9-5-5_ImageNet/x2.mat", data_dir, protocol)
    recorded["datasets"]["Set5"] = now["datasets"]["Set5"]
    recorded["provenance"]["cpu"] = cpu
    return path, recorded


@pytest.mark.data
def test_a_changed_number_is_reported(tmp_path: Path, data_dir: Path, weights_dir: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Made on this CPU model: compared exactly, so one ulp is a difference."""
    from sr_lib.provenance import cpu_model

    path, recorded = _as_made_here(tmp_path, data_dir, weights_dir, cpu_model())
    baby = recorded["datasets"]["Set5"]["per_image"]["baby"]
    baby["ssim"] = math.nextafter(baby["ssim"], 2.0)  # one ulp
    path.write_text(json.dumps(recorded))
    status = results.main(["verify", str(path), "--dataset", "Set5", "--data-dir", str(data_dir),
                           "--weights-dir", str(weights_dir)])
    out = capsys.readouterr().out
    assert status == 1
    assert "1 difference(s)" in out and "Set5/baby ssim: recorded" in out


@pytest.mark.data
def test_another_cpu_model_is_allowed_float32_rounding_not_more(tmp_path: Path, data_dir: Path,
                                                                 weights_dir: Path) -> None:
    path, recorded = _as_made_here(tmp_path, data_dir, weights_dir, "another CPU")
    images = recorded["datasets"]["Set5"]["per_image"]
    images["baby"]["psnr"] += 0.5 * results.ACROSS_CPUS["psnr"]  # rounding of another CPU: tolerated
    images["bird"]["ssim"] += 2 * results.ACROSS_CPUS["ssim"]  # more: reported
    path.write_text(json.dumps(recorded))
    assert [d.split(":")[0] for d in results.rerun_eval(path, datasets=["Set5"], weights_dir=weights_dir,
                                                         data_dir=data_dir)] == ["Set5/bird ssim"]


@pytest.mark.data
def test_weights_with_another_hash_are_refused(tmp_path: Path, weights_dir: Path) -> None:
    path, _ = _relocated_copy(tmp_path, weights_sha256="0" * 64)
    with pytest.raises(results.ResultsError, match="recorded sha256 0000"):
        results.rerun_eval(path, datasets=["Set5"], weights_dir=weights_dir)


def test_unknown_set_and_non_evaluation_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(results.ResultsError, match="no Urban100 in this file"):
        results.rerun_eval(RESULTS_DIR / "srcnn_x2_standard.json", datasets=["Urban100"])
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"kind": "bench", "provenance": {}}))
    with pytest.raises(results.ResultsError, match="a bench results file, not an evaluation"):
        results.rerun_eval(bench)


def test_protocol_gaps_stay_within_the_evaluate_docstring() -> None:
    """sr_lib.evaluate says the protocols move a set's mean PSNR "by thousandths to tenths of a dB"."""
    gaps = results.protocol_gaps(sorted(RESULTS_DIR.glob("*.json")))
    assert {g.protocols for g in gaps} >= {("matlab-y", "standard")}
    assert all(1e-3 <= abs(g.psnr_gap) < 1.0 for g in gaps), [g for g in gaps if not 1e-3 <= abs(g.psnr_gap) < 1]
