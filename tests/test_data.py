"""Data sets: registry, resolution order, verification, the Demo set and the paired patch data set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_lib import data
from sr_lib.errors import DataError
from sr_lib.imageio import read_image, write_image


def test_registry_pins_every_file_of_the_shipped_sets() -> None:
    reg = data.registry()
    for name, n in {"Set5": 20, "Set14": 56, "B100": 100, "T91": 91, "BSD200": 200}.items():
        info = reg[name]
        assert info.pinned and len(info.files) == n
        assert all(f.url and f.url.startswith("https://raw.githubusercontent.com/") for f in info.files)
        assert all(f.sha256 and len(f.sha256) == 64 for f in info.files)
    assert not reg["DIV2K"].pinned and reg["DIV2K"].homepage


def test_unknown_set_and_missing_set_are_one_line_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SR_DATA_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="unknown data set 'Set6'"):
        data.get_info("Set6")
    with pytest.raises(DataError) as err:
        data.resolve_dataset("Set5", tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "sr-lib data fetch Set5" in str(err.value)


def _tiny_set(root: Path, name: str = "Set5") -> Path:
    rng = np.random.default_rng(0)
    for stem in ("a", "b"):
        write_image(root / name / "HR" / f"{stem}.png", rng.integers(0, 256, (25, 31, 3)).astype(np.uint8))
    return root


def test_resolution_order_data_dir_then_env_then_cache(tmp_path, monkeypatch) -> None:
    explicit, env, cache = (_tiny_set(tmp_path / n) for n in ("explicit", "env", "cache/datasets"))
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))  # the cache keeps data sets under datasets/
    monkeypatch.setenv("SR_DATA_DIR", str(env))
    assert data.resolve_dataset("set5", explicit) == explicit / "Set5"
    assert data.resolve_dataset("Set5") == env / "Set5"
    monkeypatch.delenv("SR_DATA_DIR")
    assert data.resolve_dataset("Set5") == cache / "Set5"


def test_benchmark_pairs_are_modcropped_and_exactly_downscaled(tmp_path) -> None:
    root = _tiny_set(tmp_path)
    pairs = data.load_benchmark("Set5", 3, root)
    assert [p.name for p in pairs] == ["a", "b"]
    assert pairs[0].hr.shape == (24, 30, 3) and pairs[0].lr.shape == (8, 10, 3) and pairs[0].lr.dtype == np.uint8
    floats = data.load_benchmark("Set5", 3, root, lr_precision="float")
    assert floats[0].lr.dtype == np.float64
    # two rounded passes: the uint8 LR is within about one grey level of the never-rounded one
    assert 0 < np.abs(floats[0].lr - pairs[0].lr).max() < 1.5


def test_corrupt_image_is_a_one_line_error(tmp_path) -> None:
    root = _tiny_set(tmp_path)
    (root / "Set5" / "HR" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError) as err:
        data.load_benchmark("Set5", 2, root)
    assert "c.png" in str(err.value) and "\n" not in str(err.value)


def test_odd_images_are_converted(tmp_path) -> None:
    from PIL import Image

    rgba = np.zeros((6, 7, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray((np.arange(42).reshape(6, 7) * 1000).astype(np.uint16)).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "rgba.png").shape == (6, 7, 3)
    deep = read_image(tmp_path / "deep.png")
    assert deep.dtype == np.uint8 and deep.shape == (6, 7)


def test_too_small_image_for_the_scale(tmp_path) -> None:
    write_image(tmp_path / "Set5" / "HR" / "t.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(DataError, match="too small"):
        data.load_benchmark("Set5", 4, tmp_path)


def test_verify_detects_a_changed_file(data_dir, tmp_path) -> None:
    copy = tmp_path / "Set5"
    shutil.copytree(data_dir / "Set5", copy)
    n, problems = data.verify("Set5", tmp_path)
    assert n == 20 and problems == []
    victim = copy / "HR" / "bird.png"
    raw = bytearray(victim.read_bytes())
    raw[-20] ^= 0xFF
    victim.write_bytes(bytes(raw))
    (copy / "LR_bicubic" / "X2" / "baby.png").unlink()
    _, problems = data.verify("Set5", tmp_path)
    assert any("wrong sha256" in p and "bird.png" in p for p in problems)
    assert any("missing" in p and "baby.png" in p for p in problems)


def test_demo_set_works_offline() -> None:
    pairs = data.load_benchmark("Demo", 4)
    assert len(pairs) == 5 and any(p.hr.ndim == 2 for p in pairs)
    assert all(p.lr.shape[0] * 4 == p.hr.shape[0] for p in pairs)
