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


# ------------------------------------------------------------------------------------------------ Urban100 pins


def test_urban100_is_pinned_to_selfexsr_at_one_commit() -> None:
    info = data.get_info("urban100")
    assert info.pinned and len(info.files) == 300
    splits = {}
    for f in info.files:
        splits.setdefault(Path(f.path).parent.as_posix(), []).append(f)
        assert f.url and f.url.startswith("https://raw.githubusercontent.com/jbhuang0604/SelfExSR/"
                                          "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598/data/Urban100/")
    assert {k: len(v) for k, v in splits.items()} == {
        "Urban100/HR": 100, "Urban100/LR_bicubic/X2": 100, "Urban100/LR_bicubic/X4": 100}
    # the origin of the x2 LR is SelfExSR's x2 *ground truth* (its x2 experiments ran on half-size images)
    assert all(f.url.endswith("_SRF_2_HR.png") for f in splits["Urban100/LR_bicubic/X2"])
    assert [data.lr_scale_of(f.path) for f in info.files[:3]] == [None, 2, 4]


@pytest.mark.parametrize("manifest", ["MANIFEST.tsv", "Urban100.MANIFEST.tsv"])
def test_packaged_pins_equal_the_reference_manifests(manifest: str) -> None:
    import csv

    from conftest import require_dir

    from sr_lib.download import github_raw_url

    rows = list(csv.DictReader(require_dir("SR_DATA_DIR", manifest).read_text().splitlines(), delimiter="\t"))
    pinned = {f.path: f for info in data.registry().values() for f in info.files}
    assert rows
    for row in rows:
        f = pinned[row["file"]]
        assert f.sha256 == row["sha256"]
        assert f.url == github_raw_url(f"{row['source_repo']}@{row['source_commit']}", row["source_path"])


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _fake_origin(monkeypatch, lr_x2: np.ndarray | None = None) -> dict[str, bytes]:
    """A two-image pinned 'Urban100' served by a fake URL opener (no network): URL -> bytes."""
    import hashlib
    import io
    import urllib.error
    import urllib.request

    from sr_lib.degrade import downscale

    rng = np.random.default_rng(3)
    served: dict[str, bytes] = {}
    files = []
    for stem in ("img_001", "img_002"):
        hr = rng.integers(0, 256, (24, 36, 3)).astype(np.uint8)
        for sub, image in (("HR", hr), ("LR_bicubic/X2", downscale(hr, 2) if lr_x2 is None else lr_x2),
                           ("LR_bicubic/X4", downscale(hr, 4))):
            raw = _png(image)
            url = f"https://raw.githubusercontent.com/o/r/{'0' * 40}/{sub}/{stem}.png"
            served[url] = raw
            files.append(data.PinnedFile(f"Urban100/{sub}/{stem}.png", hashlib.sha256(raw).hexdigest(), url))
    fake = data.DatasetInfo("Urban100", "test", "fake", tuple(files))
    monkeypatch.setattr(data, "registry", lambda: {"Urban100": fake, "Demo": data.DatasetInfo("Demo", "demo", "")})

    def urlopen(url: str, timeout: float = 0.0) -> io.BytesIO:
        if url not in served:
            raise urllib.error.URLError("offline")
        return io.BytesIO(served[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return served


def test_fetch_downloads_checks_and_places_every_file(tmp_path, monkeypatch) -> None:
    served = _fake_origin(monkeypatch)
    folder = data.fetch("Urban100", tmp_path)
    assert folder == tmp_path / "Urban100"
    for f in data.get_info("Urban100").files:
        assert (tmp_path / f.path).read_bytes() == served[f.url]
    assert data.verify("Urban100", tmp_path) == (6, [])
    pairs = data.load_benchmark("Urban100", 2, tmp_path)
    assert [p.name for p in pairs] == ["img_001", "img_002"] and pairs[0].lr.shape == (12, 18, 3)
    assert any("LR_bicubic" in str(p) for p in pairs[0].files)  # the fetched LR file is the one used


def test_fetch_refuses_a_wrong_hash_and_leaves_no_file(tmp_path, monkeypatch) -> None:
    served = _fake_origin(monkeypatch)
    victim = data.get_info("Urban100").files[0]
    served[victim.url] = served[victim.url][:-7] + b"corrupt"
    with pytest.raises(DataError) as err:
        data.fetch("Urban100", tmp_path)
    assert "sha256" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / victim.path).exists()
    assert [p.name for p in (tmp_path / victim.path).parent.iterdir()] == []  # no temporary file either


def test_fetch_refuses_an_lr_file_that_is_not_the_exact_downscale(tmp_path, monkeypatch) -> None:
    _fake_origin(monkeypatch, lr_x2=np.full((12, 18, 3), 7, np.uint8))  # hash-consistent, but not the HR's x2
    with pytest.raises(DataError) as err:
        data.fetch("Urban100", tmp_path)
    assert "not the MATLAB bicubic x2 downscale of img_001.png" in str(err.value) and "\n" not in str(err.value)
    assert (tmp_path / "Urban100" / "HR" / "img_001.png").is_file()
    assert not (tmp_path / "Urban100" / "LR_bicubic" / "X2" / "img_001.png").exists()


def test_verify_reports_missing_and_corrupted_urban100_files(tmp_path, monkeypatch, capsys) -> None:
    from sr_lib.cli import main

    _fake_origin(monkeypatch)
    data.fetch("Urban100", tmp_path)
    (tmp_path / "Urban100" / "LR_bicubic" / "X4" / "img_002.png").unlink()
    hr = tmp_path / "Urban100" / "HR" / "img_001.png"
    hr.write_bytes(hr.read_bytes()[:-1] + b"\x00")
    n, problems = data.verify("Urban100", tmp_path)
    assert n == 6 and sorted(p.split(":")[0] for p in problems) == ["missing", "wrong sha256"]
    capsys.readouterr()
    assert main(["data", "verify", "Urban100", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr()
    err_lines = out.err.strip().splitlines()
    assert len(err_lines) == 2 and all(line.startswith("Urban100: ") for line in err_lines)
    assert any("missing" in line and "X4/img_002.png" in line for line in err_lines)
    assert any("wrong sha256" in line and "HR/img_001.png" in line for line in err_lines)
    assert "Urban100: 4/6 files ok" in out.out


def test_data_cli_errors_are_one_line(tmp_path, monkeypatch, capsys) -> None:
    from sr_lib.cli import main

    monkeypatch.delenv("SR_DATA_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    served = _fake_origin(monkeypatch)
    victim = data.get_info("Urban100").files[3]
    served[victim.url] = b"not the pinned bytes"
    cases = [
        (["data", "fetch", "Urban100", "--dest", str(tmp_path / "d")], "nothing was saved"),
        (["data", "verify", "Urban100", "--data-dir", str(tmp_path / "none")], "sr-lib data fetch Urban100"),
        (["data", "verify", "--data-dir", str(tmp_path / "none")], "no pinned data set found locally"),
        (["data", "fetch", "Urban101"], "unknown data set 'Urban101'"),
    ]
    for argv, fragment in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("sr-lib: error: ") and fragment in err, err
    assert not (tmp_path / "d" / victim.path).exists()


def test_verify_without_names_skips_sets_that_are_absent(tmp_path, monkeypatch, capsys) -> None:
    from sr_lib.cli import main

    monkeypatch.delenv("SR_DATA_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    _fake_origin(monkeypatch)
    assert main(["data", "verify"]) == 2  # nothing anywhere
    data.fetch("Urban100")  # into the cache
    capsys.readouterr()
    assert main(["data", "verify"]) == 0
    assert "Urban100: 6/6 files ok" in capsys.readouterr().out


def test_missing_urban100_says_how_to_fetch_it(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SR_DATA_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        data.load_benchmark("Urban100", 4, tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "run 'sr-lib data fetch Urban100'" in str(err.value)
