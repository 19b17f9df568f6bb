"""``sr-lib repro``: the parametrised notebook drives the training engine for any family (smoke runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _repro(out: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sr_lib.cli", "repro", *args, "--output", str(out)],
                          capture_output=True, text=True, timeout=900, env=env or dict(os.environ))


@pytest.mark.slow
@pytest.mark.parametrize("model, scale", [("srcnn", 2), ("edsr-baseline", 2), ("vdsr", 3)])
def test_repro_smoke_runs_three_families(tmp_path: Path, model: str, scale: int) -> None:
    proc = _repro(tmp_path, "--model", model, "--scale", str(scale), "--iters", "4", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    stem = f"{model}_x{scale}_quick_s0"
    res = json.loads((tmp_path / stem / "result.json").read_text())
    assert res["kind"] == "train" and res["status"] == "complete" and res["final"]["iteration"] == 4
    assert res["recipe"]["model"] == model and res["recipe"]["iters"] == 4
    assert {"git_commit", "torch", "device", "data_sha256"} <= set(res["provenance"])
    sets = next(iter(res["evaluation"].values()))
    assert all(v["images"] > 0 and v["psnr"] > 0 for v in sets.values())
    assert (tmp_path / f"{stem}.ipynb").is_file() and (tmp_path / stem / "last.pt").is_file()


def test_repro_without_data_trains_on_the_demo_set_and_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SR_")}
    env["SR_CACHE_DIR"] = str(tmp_path / "empty-cache")
    proc = _repro(tmp_path, "--model", "srcnn", "--scale", "2", "--iters", "2", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((tmp_path / "srcnn_x2_quick_s0" / "result.json").read_text())
    assert res["recipe"]["train_sets"] == ["Demo"] and "Demo" in res["evaluation"]["matlab-y"]
    assert "Demo photos" in (tmp_path / "srcnn_x2_quick_s0.ipynb").read_text()


def test_repro_fails_with_one_line_and_leaves_no_notebook(tmp_path: Path) -> None:
    proc = _repro(tmp_path, "--model", "bicubic", "--scale", "2", "--iters", "2")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "sr-lib: error:" in proc.stderr
    proc = _repro(tmp_path / "bad", "--model", "srcnn", "--scale", "2", "--iters", "2", "--device", "nonsense")
    assert proc.returncode == 2 and "sr-lib: error: reproduction failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "bad").glob("*.ipynb"))
