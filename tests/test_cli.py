"""The command line answers bad input with one error line and a non-zero exit, never a traceback, and never
leaves a partial output file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_lib.imageio import read_image, write_image


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sr_lib.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, proc.stderr
    for frag in fragments:
        assert frag in err, err


def test_models_lists_the_registry() -> None:
    proc = run("models")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert {"bicubic", "srcnn", "vdsr-nobias", "edsr", "rcan", "san", "csnln", "msrn", "cmsc", "dan-v2"} <= set(names)


def test_eval_on_the_demo_set_writes_json_with_provenance(tmp_path) -> None:
    out = tmp_path / "r.json"
    proc = run("eval", "--model", "bicubic", "--scale", "4", "--dataset", "Demo", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["model"] == "bicubic" and res["datasets"]["Demo"]["images"] == 5
    assert 20 < res["datasets"]["Demo"]["psnr"] < 40
    prov = res["provenance"]
    assert {"git_commit", "torch", "device", "timestamp_utc", "wall_time_s", "config"} <= set(prov)
    assert prov["config"]["protocol"]["name"] == "standard"
    assert not list(tmp_path.glob(".*tmp"))
    assert "niqe" not in res["datasets"]["Demo"] and "niqe_model_sha256" not in prov["config"]


def test_eval_niqe_adds_the_perception_column(tmp_path, weights_dir) -> None:
    out = tmp_path / "r.json"
    proc = run("eval", "--model", "bicubic", "--scale", "4", "--dataset", "Demo", "--niqe", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    demo = json.loads(out.read_text())["datasets"]["Demo"]
    assert "NIQE" in proc.stdout.splitlines()[0] and f"{demo['niqe']:6.3f}" in proc.stdout
    assert demo["niqe"] == pytest.approx(np.mean([v["niqe"] for v in demo["per_image"].values()]))


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["eval", "--model", "srcnn", "--scale", "7", "--dataset", "Demo"], ["no preset for x7"]),
        (["eval", "--model", "srcnn", "--scale", "2", "--dataset", "Demo", "--niqe"], ["NIQE", "only the Y channel"]),
        (["eval", "--model", "srcn", "--scale", "2", "--dataset", "Demo"], ["unknown model 'srcn'", "srcnn"]),
        (["eval", "--model", "srcnn", "--scale", "0", "--dataset", "Demo"], ["positive integer"]),
        (["eval", "--model", "bicubic", "--scale", "2", "--dataset", "Urban100", "--data-dir", "/nonexistent"],
         ["Urban100 not found"]),
        (["eval", "--model", "bicubic", "--scale", "2", "--dataset", "Demo", "--lr-precision", "float",
          "--protocol", "standard"], ["contradicts"]),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(run(*args), *fragments)


def test_wrong_shape_checkpoint_is_one_line_error(tmp_path) -> None:
    ckpt = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, ckpt)
    out = tmp_path / "r.json"
    proc = run("eval", "--model", "srcnn", "--scale", "2", "--dataset", "Demo", "--weights", str(ckpt),
               "--json", str(out))
    assert_one_line_error(proc, "does not fit SRCNN")
    assert not out.exists()


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):  # would run a shell command if unpickled without restrictions
            return (print, ("EXECUTED",))

    ckpt = tmp_path / "evil.pt"
    torch.save({"state_dict": Evil()}, ckpt, pickle_module=pickle)
    proc = run("eval", "--model", "srcnn", "--scale", "2", "--dataset", "Demo", "--weights", str(ckpt))
    assert_one_line_error(proc, "evil.pt")
    assert "EXECUTED" not in proc.stdout


def test_downscale_folder_and_bad_images(tmp_path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    rng = np.random.default_rng(0)
    write_image(src / "a.png", rng.integers(0, 256, (33, 47, 3)).astype(np.uint8))
    write_image(src / "b.png", rng.integers(0, 256, (20, 20)).astype(np.uint8))
    proc = run("downscale", str(src), str(dst), "--scale", "3")
    assert proc.returncode == 0, proc.stderr
    assert read_image(dst / "a.png").shape == (11, 15, 3) and read_image(dst / "b.png").shape == (6, 6)

    (src / "c.png").write_bytes(b"garbage")
    dst2 = tmp_path / "dst2"
    assert_one_line_error(run("downscale", str(src), str(dst2), "--scale", "2"), "c.png")
    assert not dst2.exists() or not any(dst2.iterdir())  # checked before anything is written
    assert_one_line_error(run("downscale", str(tmp_path / "none"), str(dst2), "--scale", "2"), "not found")


def test_downscale_gaussian8(tmp_path) -> None:
    src = tmp_path / "src"
    write_image(src / "a.png", np.random.default_rng(1).integers(0, 256, (24, 28, 3)).astype(np.uint8))
    proc = run("downscale", str(src), str(tmp_path / "g8"), "--scale", "4", "--kernel", "gaussian8")
    assert proc.returncode == 0, proc.stderr
    folders = sorted(p.name for p in (tmp_path / "g8").iterdir())
    assert len(folders) == 8 and folders[0] == "sig1.80" and folders[-1] == "sig3.20"
    assert read_image(tmp_path / "g8" / "sig1.80" / "a.png").shape == (6, 7, 3)


def test_data_list_and_verify(tmp_path) -> None:
    proc = run("data", "list", "--data-dir", str(tmp_path))
    assert proc.returncode == 0 and "Demo" in proc.stdout and "DIV2K" in proc.stdout
    assert_one_line_error(run("data", "verify", "Set5", "--data-dir", str(tmp_path / "x")), "Set5 not found")
