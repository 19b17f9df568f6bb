"""One download implementation and one cache layout for data sets, weights and auxiliary files; one safe reader
of checkpoints; one table renderer; no second copy of the small helpers (no network: patched downloads)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import sr_lib
from sr_lib import data, download, hub
from sr_lib.errors import DataError, SRLibError, WeightsError
from sr_lib.imageio import sha256_file
from sr_lib.tables import markdown_table, table
from sr_lib.weights import read_checkpoint

SOURCES = {p.relative_to(Path(sr_lib.__file__).parent).as_posix(): p.read_text()
           for p in sorted(Path(sr_lib.__file__).parent.rglob("*.py"))}


def test_data_sets_and_weights_download_through_the_same_function(tmp_path, monkeypatch) -> None:
    calls = []

    def recording(url, target, **kwargs):
        calls.append((url, Path(target), kwargs))
        raise kwargs["error"]("stop here")

    monkeypatch.setattr(download, "download", recording)
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="stop here"):
        data.fetch("Set5", tmp_path / "data")
    with pytest.raises(WeightsError, match="stop here"):
        hub.fetch_weights("srcnn", 2, tmp_path / "weights")
    with pytest.raises(WeightsError, match="stop here"):
        hub.resolve_aux("pca_matrix", "dan-v1", tmp_path / "nowhere", download=True)
    (u1, t1, k1), (u2, t2, k2), (_, t3, k3) = calls
    assert u1 == data.get_info("Set5").files[0].url and t1 == tmp_path / "data" / data.get_info("Set5").files[0].path
    assert k1["sha256"] == data.get_info("Set5").files[0].sha256 and k1["error"] is DataError
    assert u2 == hub.find_weights("srcnn", 2).url and k2["sha256"] == hub.find_weights("srcnn", 2).sha256
    assert t3.parts[-4:] == ("dan_aux", "pca_matrix", "DANv1", "pca_matrix.pth") and k3["error"] is WeightsError


def test_one_cache_root_with_a_folder_per_kind(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path))
    assert data.cache_dir() == tmp_path / "datasets" and hub.cache_dir() == tmp_path / "weights"
    monkeypatch.delenv("SR_CACHE_DIR")
    assert data.cache_dir() == Path.home() / ".cache" / "sr_lib" / "datasets"
    assert hub.cache_dir().parent == data.cache_dir().parent


def test_download_checks_the_hash_and_leaves_nothing_behind(tmp_path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload" * 100)
    digest = sha256_file(src)
    target = tmp_path / "out" / "a" / "file.bin"
    assert download.download(src.as_uri(), target, sha256=digest) == target and target.read_bytes() == src.read_bytes()
    assert download.download(src.as_uri(), target, sha256_prefix=digest[:8]) == target  # kept: hash matches
    with pytest.raises(DataError, match="nothing was saved") as info:
        download.download(src.as_uri(), tmp_path / "bad" / "file.bin", sha256="0" * 64, error=DataError)
    assert "\n" not in str(info.value) and not any((tmp_path / "bad").rglob("*"))
    with pytest.raises(SRLibError, match="allow_unverified"):
        download.download(src.as_uri(), tmp_path / "unverified.bin")
    with pytest.raises(SRLibError, match="only https"):
        download.download("http://example.com/a", tmp_path / "a", sha256=digest)


def test_hash_helpers() -> None:
    assert download.torch_hub_prefix("edsr_baseline_x2-1bc95232.pt") == "1bc95232"
    assert download.torch_hub_prefix("vgg19-dcbb9e9d.pth") == "dcbb9e9d"
    assert download.torch_hub_prefix("x2.mat") is None and download.torch_hub_prefix("RCAN_BIX2.pt") is None
    assert download.hash_matches("abcdef", sha256_prefix="abc") and not download.hash_matches("abcdef", "abcdee")
    assert download.github_raw_url("o/r@" + "a" * 40, "model/9-5-5(ImageNet)/x2.mat") == (
        "https://raw.githubusercontent.com/o/r/" + "a" * 40 + "/model/9-5-5%28ImageNet%29/x2.mat")
    with pytest.raises(ValueError):
        download.github_raw_url("o/r@main", "x")


# ------------------------------------------------------------------------------------------------ safe reading


def test_one_safe_reader_for_every_format(tmp_path, weights_dir) -> None:
    mat = read_checkpoint(weights_dir / "srcnn" / "9-5-5_ImageNet" / "x2.mat")
    assert mat["weights_conv1"].shape == (81, 64)
    legacy = read_checkpoint(weights_dir / "dan_aux" / "pca_matrix" / "DANv1" / "pca_matrix.pth")  # pre-zip pickle
    assert isinstance(legacy, torch.Tensor) and legacy.shape == (441, 10)
    torch.save({"w": torch.ones(2)}, tmp_path / "zip.pt")
    assert torch.equal(read_checkpoint(tmp_path / "zip.pt")["w"], torch.ones(2))
    with pytest.raises(WeightsError, match="vdsr.Net"):  # a pickled module needs its classes allowed
        read_checkpoint(weights_dir / "vdsr" / "model_epoch_50.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a loadable weights file"):
        read_checkpoint(tmp_path / "junk.pth")


# ------------------------------------------------------------------------------------------------------ tables


def test_markdown_text_and_html_come_from_one_renderer() -> None:
    rows = [{"model": "srcnn", "psnr": 36.6612, "ok": True, "paper": None},
            {"model": "vdsr", "psnr": float("nan"), "ok": False, "paper": 37.53}]
    md = markdown_table(rows, formats={"psnr": ".3f"})
    assert md.splitlines() == ["| model | psnr | ok | paper |", "|---|---|---|---|",
                               "| srcnn | 36.661 | yes | — |", "| vdsr | — | no | 37.53 |"]
    t = table(rows, formats={"psnr": ".3f"})
    assert md == t.markdown() and "36.661" in repr(t) and "36.661" in t._repr_html_()
    assert markdown_table([]) == ""


# ------------------------------------------------------------------------------------------- no second copies


@pytest.mark.parametrize("pattern, home", [
    (r"urlopen\(", "download.py"),
    (r"loadmat\(", "weights.py"),
    (r"\bdef count_parameters\(", "complexity.py"),
    (r"\bdef modcrop\(", "degrade/bicubic.py"),
    (r"def _?cubic\(", "degrade/bicubic.py"),
    (r"\bclass Table\b|\bdef markdown_table\(", "tables.py"),
    (r"SR_CACHE_DIR\"", "download.py"),
])
def test_each_helper_has_one_home(pattern: str, home: str) -> None:
    where = sorted(name for name, text in SOURCES.items() if re.search(pattern, text))
    assert where == [home]


def test_kernels_use_the_bicubic_modcrop_and_cubic() -> None:
    from sr_lib.degrade import bicubic, kernels

    assert kernels.modcrop is bicubic.modcrop and kernels.cubic is bicubic.cubic
    assert kernels.modcrop(np.zeros((7, 9)), 2).shape == (6, 8)
