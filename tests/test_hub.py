"""The pretrained-weights registry: entries are consistent, files are found offline and hash-checked, downloads
are verified and atomic (no network: file:// URLs and a patched urlopen)."""

from __future__ import annotations

from dataclasses import replace
import io
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import require_dir
from sr_lib import download, hub
from sr_lib.errors import ConfigError, WeightsError
from sr_lib.imageio import sha256_file
from sr_lib.models import get_model_entry, list_models
from sr_lib.models.edsr import OFFICIAL_WEIGHTS

ENTRIES = hub.list_weights()


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No $SR_WEIGHTS_DIR, and an empty cache under tmp_path."""
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


# ------------------------------------------------------------------------------------------------ the registry


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path)
def test_entry_is_consistent(entry: hub.WeightsEntry) -> None:
    if entry.model is not None:
        assert entry.model in list_models()
        if entry.scale is not None:
            assert entry.scale in get_model_entry(entry.model).scales
    else:
        assert entry.kind == "aux"
    assert entry.format in ("mat", "legacy-pickle", "state-dict", "npz")
    assert not entry.path.startswith("/") and ".." not in entry.path.split("/")
    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:.+", entry.source), "source must be repo@commit:path"
    if entry.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    if entry.sha256_prefix is not None:
        assert re.fullmatch(r"[0-9a-f]{8}", entry.sha256_prefix)
        assert entry.sha256_prefix in entry.path  # torch-hub convention: the prefix is in the file name
    if entry.url is None:
        assert entry.homepage, "an entry without a direct URL must say where to get the file"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.url], ids=lambda e: e.path)
def test_urls_are_https_and_pinned(entry: hub.WeightsEntry) -> None:
    assert entry.url is not None and entry.url.startswith("https://")
    if entry.url.startswith("https://raw.githubusercontent.com/"):
        commit = entry.url.split("/")[5]
        assert re.fullmatch(r"[0-9a-f]{40}", commit), f"raw GitHub URL not pinned to a commit: {entry.url}"
        assert commit in entry.source
    else:
        assert entry.verifiable, f"a URL on a mutable host needs a hash: {entry.url}"


def test_paths_are_unique_and_edsr_prefixes_match_the_official_url_dict() -> None:
    paths = [e.path for e in ENTRIES]
    assert len(paths) == len(set(paths))
    edsr = {e.url: e for e in ENTRIES if e.url and "cv.snu.ac.kr" in e.url}
    assert set(edsr) == set(OFFICIAL_WEIGHTS.values())
    assert edsr["https://cv.snu.ac.kr/research/EDSR/models/edsr_x2-0edfb8a3.pt"].sha256_prefix == "0edfb8a3"


def test_find_weights_picks_scale_and_variant() -> None:
    assert hub.find_weights("srcnn", 3).path == "srcnn/9-5-5_ImageNet/x3.mat"
    assert hub.find_weights("srcnn-915", 3).path == "srcnn/9-1-5_91images/x3.mat"  # ECCV default
    assert hub.find_weights("srcnn-915", 3, variant="imagenet").path == "srcnn/9-1-5_ImageNet/x3.mat"
    assert hub.find_weights("vdsr-nobias", 4).scale is None  # one file for every scale
    assert hub.find_weights("mdsr", 3).path.startswith("edsr/mdsr-")


@pytest.mark.parametrize("call, error", [
    (lambda: hub.find_weights("srresnet-prelu", 4), WeightsError),  # no weights published
    (lambda: hub.find_weights("srcnn-935", 2), WeightsError),  # 9-3-5 exists at x3 only
    (lambda: hub.find_weights("srcnn", 3, variant="91 images"), WeightsError),
    (lambda: hub.find_weights("srcnn", 8), ConfigError),  # no such preset
    (lambda: hub.find_weights("nonexistent", 2), ConfigError),
])
def test_lookup_errors_are_one_line(call, error) -> None:
    with pytest.raises(error) as info:
        call()
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------ offline resolution


def test_offline_resolution_of_the_shared_files(weights_dir, isolated, monkeypatch) -> None:
    local = [e for e in ENTRIES if e.sha256 and (weights_dir / e.path).is_file()]
    assert {e.path for e in local} >= {"srcnn/9-5-5_ImageNet/x2.mat", "vdsr/model_epoch_50.pth",
                                       "dan_aux/pca_matrix/DANv1/pca_matrix.pth"}
    for entry in local:  # every shared file passes its hash check
        assert hub.resolve_entry(entry, weights_dir) == weights_dir / entry.path
    monkeypatch.setenv("SR_WEIGHTS_DIR", str(weights_dir))  # and is found through $SR_WEIGHTS_DIR
    assert hub.resolve_weights("srcnn", 4) == weights_dir / "srcnn/9-5-5_ImageNet/x4.mat"
    assert hub.resolve_weights("srcnn-915", 3, variant="ImageNet") == weights_dir / "srcnn/9-1-5_ImageNet/x3.mat"
    assert hub.resolve_weights("vdsr-nobias", 3) == weights_dir / "vdsr/model_epoch_50.pth"


def test_load_pretrained_srcnn(weights_dir, isolated) -> None:
    srcnn = hub.load_pretrained("srcnn", 3, weights_dir)
    assert not srcnn.training
    x = torch.full((1, 1, 20, 20), 0.5)
    with torch.no_grad():
        y = srcnn(x)
    assert y.shape == x.shape and abs(y.mean().item() - 0.5) < 0.05  # a flat image stays (nearly) flat
    srcnn915 = hub.load_pretrained("srcnn-915", 3, weights_dir, variant="ImageNet")  # f2 = 1: MATLAB drops a dim
    assert srcnn915.conv2.weight.shape == (32, 64, 1, 1)
    # (VDSR's legacy pickle goes through the same load_weights; tests/test_vdsr.py loads it)


def test_missing_file_is_one_line(isolated) -> None:
    with pytest.raises(WeightsError) as info:
        hub.resolve_weights("srcnn", 2, weights_dir=isolated / "nowhere")
    msg = str(info.value)
    assert "\n" not in msg
    assert str(isolated / "nowhere" / "srcnn/9-5-5_ImageNet/x2.mat") in msg  # where it looked
    assert "sr-lib weights fetch srcnn --scale 2" in msg and "raw.githubusercontent.com" in msg  # how to get it
    with pytest.raises(WeightsError, match="by hand from https://www.dropbox.com") as info:
        hub.resolve_weights("rcan", 4)
    assert "\n" not in str(info.value)


def test_corrupted_file_fails_the_hash_check(weights_dir, isolated) -> None:
    entry = hub.find_weights("srcnn", 2)
    target = isolated / "w" / entry.path
    target.parent.mkdir(parents=True)
    shutil.copyfile(weights_dir / entry.path, target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the published") as info:
        hub.resolve_weights("srcnn", 2, weights_dir=isolated / "w")
    assert "\n" not in str(info.value)
    with pytest.raises(WeightsError):
        hub.load_pretrained("srcnn", 2, isolated / "w")


def test_wrong_prefix_fails_too(isolated) -> None:
    entry = hub.find_weights("edsr-baseline", 2)
    target = isolated / "w" / entry.path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the EDSR checkpoint")
    with pytest.raises(WeightsError, match="1bc95232"):
        hub.resolve_weights("edsr-baseline", 2, weights_dir=isolated / "w")


# --------------------------------------------------------------------------------------------------- downloads


def _entry_for(src: Path, **kw) -> hub.WeightsEntry:
    return hub.WeightsEntry(model="srcnn", scale=2, path="test/x2.mat", format="mat", source="local/test@" + "0" * 40 + ":test",
                            url=src.resolve().as_uri(), **kw)


def test_download_from_a_file_url_is_checked_and_atomic(tmp_path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights" * 1000)
    good = _entry_for(src, sha256=sha256_file(src))
    dest = tmp_path / "dest"
    path = hub.download_entry(good, dest)
    assert path == dest / "test/x2.mat" and path.read_bytes() == src.read_bytes()
    assert hub.download_entry(good, dest) == path  # already there and valid: kept

    bad = _entry_for(src, sha256="0" * 64)
    dest2 = tmp_path / "dest2"
    with pytest.raises(WeightsError, match="nothing was saved") as info:
        hub.download_entry(bad, dest2)
    assert "\n" not in str(info.value)
    assert not any(p.is_file() for p in dest2.rglob("*"))  # no partial or temporary file left


def test_download_refuses_unverifiable_and_plain_http(tmp_path, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("must not reach the network")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    msrn = hub.find_weights("msrn", 4)
    assert msrn.url and not msrn.verifiable
    with pytest.raises(WeightsError, match="allow_unverified"):
        hub.download_entry(msrn, tmp_path)
    http = hub.WeightsEntry(model="srcnn", scale=2, path="a.mat", format="mat", source="x@00000000",
                            url="http://example.com/a.mat", sha256="0" * 64)
    with pytest.raises(WeightsError, match="only https"):
        hub.download_entry(http, tmp_path)
    with pytest.raises(WeightsError, match="no direct download"):
        hub.download_entry(hub.find_weights("san", 4), tmp_path)


def test_unverified_download_when_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"msrn-bytes"))
    path = hub.download_entry(hub.find_weights("msrn", 2), tmp_path, allow_unverified=True)
    assert path.read_bytes() == b"msrn-bytes"


def test_resolve_downloads_into_the_cache_only_when_asked(weights_dir, isolated, monkeypatch) -> None:
    entry = hub.find_weights("srcnn", 3)
    payload = (weights_dir / entry.path).read_bytes()
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(WeightsError, match="not found"):
        hub.resolve_weights("srcnn", 3)
    assert calls == []  # offline by default
    path = hub.resolve_weights("srcnn", 3, download=True)
    assert calls == [entry.url]
    assert path == isolated / "cache" / "weights" / entry.path and sha256_file(path) == entry.sha256
    assert hub.resolve_weights("srcnn", 3) == path  # now found in the cache, no second download
    assert len(calls) == 1


def test_download_network_error_is_one_line(isolated, monkeypatch) -> None:
    import urllib.error

    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(WeightsError, match="cannot download .* no route to host") as info:
        hub.fetch_weights("srcnn", 2)
    assert "\n" not in str(info.value)
    assert not (isolated / "cache" / "weights" / "srcnn").exists() or not any(
        (isolated / "cache" / "weights" / "srcnn").rglob("*.mat"))


def test_availability_reports_local_copies(weights_dir) -> None:
    rows = {(r["model"], r["scale"], r["variant"]): r for r in hub.availability(weights_dir)}
    assert rows[("srcnn", 2, "ImageNet (TPAMI)")]["local"] == "verified"
    assert rows[("rcan", 4, "")]["download"] == "manual"
    assert rows[("edsr", 4, "")]["download"] == "direct (pinned)"


def test_mirrors_are_tried_in_order_and_hash_checked(tmp_path) -> None:
    """The original host is gone: a dead URL falls through to the mirror; a mirror with other bytes is refused."""
    src, other = tmp_path / "src.bin", tmp_path / "other.bin"
    src.write_bytes(b"weights" * 100)
    other.write_bytes(b"not the weights")
    dead = (tmp_path / "gone.bin").resolve().as_uri()
    entry = hub.WeightsEntry(model="srcnn", scale=2, path="m/x2.mat", format="mat", source="x@" + "0" * 40,
                             url=dead, sha256=sha256_file(src), mirrors=(other.resolve().as_uri(), src.resolve().as_uri()))
    assert hub.download_entry(entry, tmp_path / "d").read_bytes() == src.read_bytes()
    wrong = replace(entry, mirrors=(other.resolve().as_uri(),))
    with pytest.raises(WeightsError, match="all 2 sources failed") as info:
        hub.download_entry(wrong, tmp_path / "d2")
    assert "\n" not in str(info.value) and not (tmp_path / "d2" / "m/x2.mat").exists()


def test_edsr_mirrors_carry_the_name_hash() -> None:
    """Every recorded full sha256 of an EDSR-PyTorch release starts with the prefix in its file name."""
    for name, scale in (("edsr-baseline", 2), ("edsr-baseline", 3), ("edsr-baseline", 4), ("mdsr", 2),
                        ("mdsr-baseline", 2), ("edsr", 2)):
        e = hub.find_weights(name, scale)
        assert e.mirrors and all(u.startswith("https://") for u in e.mirrors)
        assert e.sha256 is None or e.sha256.startswith(e.sha256_prefix)
