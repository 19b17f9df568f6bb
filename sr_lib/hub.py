"""Pretrained weights: where the authors published them, how to check them, where to find them offline.

Every entry of :data:`REGISTRY` names the registry model (and scale) a file belongs to, the URL of the authors'
release (pinned: a commit in the URL, or a hash of the content), the expected sha256 where it is known (the full
hash, or the 8-hex prefix that a torch-hub style file name carries, e.g. EDSR's ``edsr_x2-0edfb8a3.pt``), the file's
path below ``$SR_WEIGHTS_DIR``, its format and where it comes from (``repo@commit:path``). Where the authors only
published a Google Drive / Baidu / Dropbox page, ``url`` is None and ``homepage`` is that page: those files are
downloaded by hand and put at ``path`` below a weights folder.

Resolution order of :func:`resolve_weights` (the first folder holding the file wins):

1. the ``weights_dir`` argument (``--weights-dir``),
2. ``$SR_WEIGHTS_DIR``,
3. the cache: ``$SR_CACHE_DIR/weights`` if ``SR_CACHE_DIR`` is set, else ``~/.cache/sr_lib/weights``,

and only with ``download=True`` a download into the cache (temporary file, sha256 check, then an atomic rename).
Every file is hash-checked before it is returned; files are read by :mod:`sr_lib.weights`, which never executes
code from a checkpoint (``.mat`` through SciPy, legacy pickles through the restricted unpickler, everything else
with ``torch.load(weights_only=True)``). Downloading a file with no known hash needs ``allow_unverified=True``;
a file with no published hash that the user placed in a weights folder by hand is used as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from .errors import WeightsError
from .imageio import atomic_path, sha256_file

Format = Literal["mat", "legacy-pickle", "state-dict"]
Kind = Literal["model", "aux"]


@dataclass(frozen=True)
class WeightsEntry:
    """One published weights file.

    model: registry name (``sr_lib.models.list_models()``) the file loads into, or None for an auxiliary file of
        a model that is not registered (IKC's PCA matrix).
    scale: the scale the file is for; None when one file serves every scale (VDSR, MDSR).
    path: where the file lives below a weights folder (``$SR_WEIGHTS_DIR``, the cache), ``/``-separated.
    format: ``"mat"`` (MATLAB, SRCNN), ``"legacy-pickle"`` (pre-zip torch pickle: a whole pickled module such as
        VDSR's, or a bare tensor such as DAN's PCA matrices), ``"state-dict"`` (a torch state dict).
    source: ``repo@commit:path`` of the file (or of the README that links it).
    url: direct download URL (https, pinned), or None where only a web page exists.
    sha256: full expected sha256, where known.
    sha256_prefix: leading hex digits of the sha256 given by the file name (torch-hub convention), where known.
    homepage: the page to download from by hand (Google Drive / Baidu / Dropbox / Jianguoyun) when ``url`` is None,
        or an alternative mirror.
    variant: what distinguishes several files for the same model and scale (e.g. SRCNN's training set).
    kind: ``"model"`` (loads into the network) or ``"aux"`` (a file the model needs, e.g. DAN's PCA matrix).
    notes: anything a user must know (manual download, password, archive to unpack, ...).
    """

    model: str | None
    scale: int | None
    path: str
    format: Format
    source: str
    url: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    homepage: str | None = None
    variant: str = ""
    kind: Kind = "model"
    notes: str = ""

    @property
    def verifiable(self) -> bool:
        """Whether a downloaded or local copy can be checked against a known hash."""
        return bool(self.sha256 or self.sha256_prefix)

    @property
    def label(self) -> str:
        if self.kind == "aux":
            return f"auxiliary file {self.path}"
        scale = f"x{self.scale}" if self.scale else "any scale"
        variant = f" ({self.variant})" if self.variant else ""
        return f"{self.model or 'aux'} {scale}{variant}"

    def check_hash(self, digest: str) -> bool:
        """Whether ``digest`` (a full hex sha256) matches what is known about this file."""
        if self.sha256 and digest != self.sha256:
            return False
        if self.sha256_prefix and not digest.startswith(self.sha256_prefix):
            return False
        return True


# ----------------------------------------------------------------------------------------------------------------
# The registry

_SRCNN_COMMIT = "85679e2ef74e058a1f1e79fe6ba349e93f1ee8ea"  # WangDequan/SRCNN (mirror of the SRCNN_v1 release)
_VDSR_COMMIT = "514b021044018baf909e79f48392783daa592888"  # twtygqyy/pytorch-vdsr
_DAN_COMMIT = "4c4de00714e2a3ea541071da182a4e792128d128"  # greatlog/DAN
_MSRN_COMMIT = "a0e038de7eb42e21d2e88c38e6490b61a02c566e"  # MIVRC/MSRN-PyTorch
_EDSR_COMMIT = "9d3bb0ec620ea2ac1b5e5e7a32b0133fbba66fd2"  # sanghyun-son/EDSR-PyTorch
_RCAN_COMMIT = "f722e5d0e1eff45148bfaefd9bc85c6f0f26ce02"  # yulunzhang/RCAN
_SAN_COMMIT = "7c1e61f0d17b58e3400a14e631d9185dde1881b6"  # daitao/SAN
_CSNLN_COMMIT = "531aec924746f8b9085be8c601a6af757b630070"  # SHI-Labs/Cross-Scale-Non-Local-Attention
_SRRESNET_COMMIT = "d715729c8805f59dccd4a89acb7af11cb7b1534a"  # twtygqyy/pytorch-SRResNet (head ported here)


def _raw_github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{urllib.parse.quote(path)}"


def _srcnn(model: str, folder: str, local: str, scale: int, sha256: str, variant: str) -> WeightsEntry:
    repo_path = f"model/{folder}/x{scale}.mat"
    return WeightsEntry(
        model=model, scale=scale, path=f"srcnn/{local}/x{scale}.mat", format="mat",
        source=f"WangDequan/SRCNN@{_SRCNN_COMMIT}:{repo_path}",
        url=_raw_github("WangDequan/SRCNN", _SRCNN_COMMIT, repo_path), sha256=sha256,
        homepage="http://mmlab.ie.cuhk.edu.hk/projects/SRCNN.html", variant=variant,
        notes="official SRCNN_v1 MATLAB release, mirrored on GitHub",
    )


_SRCNN_ENTRIES = (
    # TPAMI 2016 models (trained on ImageNet)
    _srcnn("srcnn", "9-5-5(ImageNet)", "9-5-5_ImageNet", 2,
           "dc06d52ab0ecfb75a4222a33c06c2c23287cf67abbd75b869a178f6305f8cdc1", "ImageNet (TPAMI)"),
    _srcnn("srcnn", "9-5-5(ImageNet)", "9-5-5_ImageNet", 3,
           "fa2ee366d328b942b971c80c24f48dc2b015d5ed4b5790070f720ccfb6ab1578", "ImageNet (TPAMI)"),
    _srcnn("srcnn", "9-5-5(ImageNet)", "9-5-5_ImageNet", 4,
           "3f94150d24e5b60dab2b74f4eaf358aefdc72cbe724d86990435bf877ed452ed", "ImageNet (TPAMI)"),
    _srcnn("srcnn-935", "9-3-5(ImageNet)", "9-3-5_ImageNet", 3,
           "d798df50cf1e1b265ae63204da726fd6bf8b0e42c6dd2f18d5fe618576eec553", "ImageNet (TPAMI)"),
    # ECCV 2014 models (91 training images) first: the only 9-1-5 files at x2 and x4, so the default at x3 too
    _srcnn("srcnn-915", "9-1-5(91 images)", "9-1-5_91images", 2,
           "51b748297e8669832a4ad27cc4b7eebc6d65d37a77bcb19bef23c1b5f972ea12", "91 images (ECCV)"),
    _srcnn("srcnn-915", "9-1-5(91 images)", "9-1-5_91images", 3,
           "ef05325a96221ab9399db844bc833f687796a1078bfa6aacc6930bde60ca5b10", "91 images (ECCV)"),
    _srcnn("srcnn-915", "9-1-5(91 images)", "9-1-5_91images", 4,
           "717c2c6f5196a95959f98953f84a359e56fc415eba190b5db016b25896e74862", "91 images (ECCV)"),
    _srcnn("srcnn-915", "9-1-5(ImageNet)", "9-1-5_ImageNet", 3,
           "63906335110253189230f1190a577b431aaab6c3b677c97f2720da4eab7e6efe", "ImageNet (TPAMI)"),
)

_VDSR_ENTRY = WeightsEntry(
    model="vdsr-nobias", scale=None, path="vdsr/model_epoch_50.pth", format="legacy-pickle",
    source=f"twtygqyy/pytorch-vdsr@{_VDSR_COMMIT}:model/model_epoch_50.pth",
    url=_raw_github("twtygqyy/pytorch-vdsr", _VDSR_COMMIT, "model/model_epoch_50.pth"),
    sha256="eab4d79ae5a6e5acef4c55e46015aed225ade207679bcb6695b07af8fb18e876",
    notes="widely used reimplementation (no biases), not the authors' Caffe model; one network for x2/x3/x4; "
          "a whole pickled nn.Module, read without executing it",
)


def _edsr(model: str, scale: int | None, url: str) -> WeightsEntry:
    """A release of the EDSR-PyTorch ``url`` dicts; the file name carries the sha256 prefix (torch-hub style)."""
    name = url.rsplit("/", 1)[1]
    prefix = re.fullmatch(r".*-([0-9a-f]{8})\.pt", name)
    assert prefix is not None, name
    owner = "src/model/mdsr.py" if model.startswith("mdsr") else "src/model/edsr.py"
    return WeightsEntry(
        model=model, scale=scale, path=f"edsr/{name}", format="state-dict",
        source=f"sanghyun-son/EDSR-PyTorch@{_EDSR_COMMIT}:{owner} (url dict)", url=url,
        sha256_prefix=prefix.group(1),
        notes="one file for x2, x3 and x4 (all branches)" if scale is None else "",
    )


def _edsr_entries() -> tuple[WeightsEntry, ...]:
    from .models.edsr import OFFICIAL_WEIGHTS

    out = []
    for model, key in (("edsr", "r32f256x{}"), ("edsr-baseline", "r16f64x{}")):
        out += [_edsr(model, s, OFFICIAL_WEIGHTS[key.format(s)]) for s in (2, 3, 4)]
    out += [_edsr("mdsr", None, OFFICIAL_WEIGHTS["r80f64"]), _edsr("mdsr-baseline", None, OFFICIAL_WEIGHTS["r16f64"])]
    return tuple(out)


_RCAN_DROPBOX = "https://www.dropbox.com/s/qm9vc0p0w9i4s0n/models_ECCV2018RCAN.zip?dl=0"
_RCAN_NOTES = ("manual download: the archive models_ECCV2018RCAN.zip (BIX2/3/4/8, BDX3) from Dropbox, BaiduYun "
               "(https://pan.baidu.com/s/1bkoJKmdOcvLhOFXHVkFlKA) or Google Drive "
               "(https://drive.google.com/file/d/1U0RmWkkacyw0HNC7CBts2LcX1ewAulCn/view?usp=sharing); "
               "unpack RCAN_BIX{s}.pt; no published hash")
_SAN_BAIDU = "https://pan.baidu.com/s/1aTYG4Wy72MI-gCRGnJgkvQ"
_CSNLN_DRIVE = "https://drive.google.com/drive/folders/1C--KFcfAsvLM4K0J6td4TqNeiaGsTXd_?usp=sharing"
_DAN_DRIVE = "https://drive.google.com/drive/folders/1aOaxXFfMAM6GvvPz56lzUwVmg7BMM_mR?usp=sharing"
_MSRN_JIANGUOYUN = "https://www.jianguoyun.com/p/DQpSSlQQ19ySBxjH2IYB"

_MANUAL_ENTRIES = tuple(
    [WeightsEntry(model="rcan", scale=s, path=f"rcan/RCAN_BIX{s}.pt", format="state-dict",
                  source=f"yulunzhang/RCAN@{_RCAN_COMMIT}:README.md (Test, Quick start)",
                  homepage=_RCAN_DROPBOX, notes=_RCAN_NOTES.format(s=s)) for s in (2, 3, 4, 8)]
    + [WeightsEntry(model="san", scale=s, path=f"san/SAN_BIX{s}.pt", format="state-dict",
                    source=f"daitao/SAN@{_SAN_COMMIT}:README.md (Test code)", homepage=_SAN_BAIDU,
                    notes="manual download from BaiduYun (password eq1v); no published hash") for s in (2, 3, 4, 8)]
    + [WeightsEntry(model="csnln", scale=s, path=f"csnln/model_x{s}.pt", format="state-dict",
                    source=f"SHI-Labs/Cross-Scale-Non-Local-Attention@{_CSNLN_COMMIT}:README.md (Test, Quick start)",
                    homepage=_CSNLN_DRIVE,
                    notes="manual download from the Google Drive folder (file name as in the README's test "
                          "command); no published hash") for s in (2, 3, 4)]
    + [WeightsEntry(model="msrn", scale=s, path=f"msrn/MSRN_x{s}.pt", format="state-dict",
                    source=f"MIVRC/MSRN-PyTorch@{_MSRN_COMMIT}:MSRN/Test/model/MSRN_x{s}.pt",
                    url=_raw_github("MIVRC/MSRN-PyTorch", _MSRN_COMMIT, f"MSRN/Test/model/MSRN_x{s}.pt"),
                    homepage=_MSRN_JIANGUOYUN,
                    notes="the authors' RGB retraining (EDSR code base), shipped in the repository; no hash known "
                          "here, so fetching needs allow_unverified") for s in (2, 3, 4, 8)]
    + [WeightsEntry(model=f"dan-{v}", scale=s, path=f"dan/DAN{v}/dan{v}_x{s}_setting1.pth", format="state-dict",
                    source=f"greatlog/DAN@{_DAN_COMMIT}:README.md (Pretrained Weights); file name from "
                           f"codes/config/DAN{v}/options/setting1/test/test_setting1_x{s}.yml",
                    homepage=_DAN_DRIVE, variant="setting 1",
                    notes="manual download from Google Drive or BaiduYun (https://pan.baidu.com/s/15843FMaiGoREB-8sdmJc4g,"
                          " password cbjv); the README text names DANv1 and IKC weights, its folder tree a DANv2 "
                          "folder too; no published hash")
       for v in ("v1", "v2") for s in (2, 3, 4)]
    + [WeightsEntry(model="srresnet-in", scale=4, path="srresnet/model_srresnet.pth", format="legacy-pickle",
                    source=f"twtygqyy/pytorch-SRResNet@{_SRRESNET_COMMIT}:README.md (Performance), "
                           f"file model/model_srresnet.pth",
                    homepage="https://github.com/twtygqyy/pytorch-SRResNet",
                    notes="reimplementation weights (InstanceNorm generator per the README); a whole pickled module "
                          "whose classes sr_lib's restricted unpickler does not allow yet; no hash known, so not fetched")]
)


def _dan_aux(version: str, name: str, sha256: str, model: str | None) -> WeightsEntry:
    repo_path = f"pca_matrix/{version}/{name}"
    return WeightsEntry(
        model=model, scale=None, path=f"dan_aux/{repo_path}", format="legacy-pickle",
        source=f"greatlog/DAN@{_DAN_COMMIT}:{repo_path}", url=_raw_github("greatlog/DAN", _DAN_COMMIT, repo_path),
        sha256=sha256, kind="aux", variant=name.removesuffix(".pth"),
        notes="PCA kernel-code matrix (one float32 tensor; read with sr_lib.models.dan.load_pca_matrix)",
    )


_DAN_AUX = (
    _dan_aux("DANv1", "pca_matrix.pth", "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", "dan-v1"),
    _dan_aux("DANv1", "pca_aniso_matrix_x2.pth",
             "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93", "dan-v1"),
    _dan_aux("DANv1", "pca_aniso_matrix_x4.pth",
             "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", "dan-v1"),
    _dan_aux("DANv2", "pca_matrix.pth", "d9437eaf6b55a819797184998bdaeab81d42d91737a6bff8d29da230affa60ce", "dan-v2"),
    _dan_aux("DANv2", "pca_aniso_matrix_x2.pth",
             "0eceb41f99e96335016db3898687d75a0da8485da425cf7334b7c47e221a4e93", "dan-v2"),
    _dan_aux("DANv2", "pca_aniso_matrix_x4.pth",
             "f3645e84a601e9ffed2f301e8d37a3676c8b03e89c79bd3e445f4fec5ebd0f62", "dan-v2"),
    _dan_aux("IKC", "pca_matrix.pth", "007de51b9d559f8c8b5e19179576d3c2ffa2b91a0a8645275e9d42106e4f0588", None),
)

_REGISTRY: tuple[WeightsEntry, ...] | None = None


def _registry() -> tuple[WeightsEntry, ...]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _SRCNN_ENTRIES + (_VDSR_ENTRY,) + _edsr_entries() + _MANUAL_ENTRIES + _DAN_AUX
    return _REGISTRY


# ----------------------------------------------------------------------------------------------------------------
# Lookup


def list_weights(model: str | None = None, kind: Kind | None = None) -> list[WeightsEntry]:
    """Every registered weights file (optionally only those of ``model`` and/or of one ``kind``)."""
    return [e for e in _registry() if (model is None or e.model == model) and (kind is None or e.kind == kind)]


def find_weights(model: str, scale: int, variant: str | None = None) -> WeightsEntry:
    """The weights entry for ``model`` at ``scale`` (the first registered one if several; pick with ``variant``).

    Unknown model or unsupported scale: :class:`~sr_lib.errors.ConfigError` from the model registry;
    no weights published: one :class:`~sr_lib.errors.WeightsError` line.
    """
    from .models import get_model_entry

    get_model_entry(model).check_scale(scale)
    found = [e for e in list_weights(model, kind="model") if e.scale in (scale, None)]
    if variant is not None:
        matching = [e for e in found if variant.lower() in e.variant.lower()]
        if not matching:
            known = ", ".join(sorted({e.variant for e in found if e.variant})) or "none"
            raise WeightsError(f"no '{variant}' weights for {model} x{scale}; variants: {known}")
        found = matching
    if not found:
        have = sorted({e.model for e in list_weights(kind="model") if e.model})
        raise WeightsError(f"no pretrained weights registered for {model} x{scale}; models with weights: "
                           f"{', '.join(have)}")
    return found[0]


def cache_dir() -> Path:
    """Where downloads go: ``$SR_CACHE_DIR/weights``, or ``~/.cache/sr_lib/weights``."""
    base = os.environ.get("SR_CACHE_DIR")
    return Path(base) / "weights" if base else Path.home() / ".cache" / "sr_lib" / "weights"


def search_dirs(weights_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """The weights folders in resolution order, each with the reason it is searched."""
    dirs: list[tuple[str, Path]] = []
    if weights_dir:
        dirs.append(("weights_dir", Path(weights_dir)))
    if os.environ.get("SR_WEIGHTS_DIR"):
        dirs.append(("$SR_WEIGHTS_DIR", Path(os.environ["SR_WEIGHTS_DIR"])))
    dirs.append(("cache", cache_dir()))
    return dirs


def verify_file(entry: WeightsEntry, path: str | Path) -> Path:
    """Check ``path`` against ``entry``'s known hash (one :class:`WeightsError` line on a mismatch).

    Files of entries with no published hash (manual downloads placed by the user) are accepted as they are.
    """
    path = Path(path)
    if not entry.verifiable:
        return path  # nothing published to check against (manual downloads); the loader still executes nothing
    digest = sha256_file(path)
    if not entry.check_hash(digest):
        expected = entry.sha256 or f"{entry.sha256_prefix}..."
        raise WeightsError(f"{path}: sha256 {digest[:16]}... does not match the published {expected[:16]}... "
                           f"({entry.label}): corrupt or different file, delete it and fetch again")
    return path


def _locate(entry: WeightsEntry, weights_dir: str | Path | None) -> tuple[Path | None, list[str]]:
    searched = []
    for _, folder in search_dirs(weights_dir):
        candidate = folder / entry.path
        if candidate.is_file():
            return candidate, searched
        searched.append(str(candidate))
    return None, searched


def download_entry(entry: WeightsEntry, dest: str | Path | None = None, timeout: float = 60.0,
                   allow_unverified: bool = False) -> Path:
    """Download ``entry`` to ``dest/entry.path`` (default: the cache): temporary file, hash check, atomic rename.

    An existing file with the right hash is kept. Only ``https`` (and ``file`` for local mirrors) URLs are fetched.
    """
    if entry.url is None:
        where = entry.homepage or entry.source
        raise WeightsError(f"{entry.label} weights have no direct download; get them from {where} "
                           f"and put the file at <weights dir>/{entry.path}")
    if urllib.parse.urlparse(entry.url).scheme not in ("https", "file"):
        raise WeightsError(f"refusing to download {entry.url}: only https URLs are fetched")
    if not entry.verifiable and not allow_unverified:
        raise WeightsError(f"{entry.label} weights have no known sha256; pass allow_unverified=True "
                           f"(--allow-unverified) to download {entry.url} anyway")
    target = Path(dest or cache_dir()) / entry.path
    if target.is_file():
        try:
            return verify_file(entry, target)
        except WeightsError:
            pass  # a stale or partial copy: replace it below
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(entry.url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
            digest = sha256_file(tmp)
            if entry.verifiable and not entry.check_hash(digest):
                expected = entry.sha256 or f"{entry.sha256_prefix}..."
                raise WeightsError(f"downloaded {entry.url} has sha256 {digest[:16]}..., expected "
                                   f"{expected[:16]}...; nothing was saved")
    except OSError as exc:  # URLError, timeouts, disk errors
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot download {entry.url}: {reason}".splitlines()[0]) from None
    return target


def fetch_weights(model: str, scale: int, dest: str | Path | None = None, *, variant: str | None = None,
                  allow_unverified: bool = False, timeout: float = 60.0) -> Path:
    """Download the weights of ``model`` at ``scale`` into ``dest`` (default: the cache) and return the path."""
    return download_entry(find_weights(model, scale, variant), dest, timeout, allow_unverified)


def resolve_weights(model: str, scale: int, weights_dir: str | Path | None = None, download: bool = False, *,
                    variant: str | None = None, allow_unverified: bool = False, timeout: float = 60.0) -> Path:
    """The local, hash-checked path of the weights of ``model`` at ``scale``.

    Searches ``weights_dir`` > ``$SR_WEIGHTS_DIR`` > the cache; downloads into the cache only if ``download``.
    A missing file is one :class:`WeightsError` line saying where it was searched and how to get it.
    """
    entry = find_weights(model, scale, variant)
    return resolve_entry(entry, weights_dir, download, allow_unverified=allow_unverified, timeout=timeout)


def resolve_entry(entry: WeightsEntry, weights_dir: str | Path | None = None, download: bool = False, *,
                  allow_unverified: bool = False, timeout: float = 60.0) -> Path:
    """:func:`resolve_weights` for a given entry (also for auxiliary files)."""
    path, searched = _locate(entry, weights_dir)
    if path is not None:
        return verify_file(entry, path)
    if download and entry.url:
        return download_entry(entry, None, timeout, allow_unverified)
    scale = f" --scale {entry.scale}" if entry.scale else ""
    if entry.url:
        how = f"run 'sr-lib weights fetch {entry.model}{scale}' or download {entry.url}"
    else:
        how = f"download it by hand from {entry.homepage or entry.source}"
    notes = f" ({entry.notes})" if entry.notes and not entry.url else ""
    raise WeightsError(f"{entry.label} weights not found (searched {', '.join(searched)}); {how} "
                       f"to <weights dir>/{entry.path} and set SR_WEIGHTS_DIR{notes}")


def load_pretrained(model: str, scale: int, weights_dir: str | Path | None = None, download: bool = False, *,
                    variant: str | None = None, allow_unverified: bool = False, timeout: float = 60.0) -> nn.Module:
    """``create_model(model, scale)`` with the published weights loaded strictly (hash checked first), in eval mode."""
    from .models import create_model
    from .weights import load_weights

    path = resolve_weights(model, scale, weights_dir, download, variant=variant,
                           allow_unverified=allow_unverified, timeout=timeout)
    net = create_model(model, scale)
    load_weights(net, path)
    return net.eval()


def availability(weights_dir: str | Path | None = None, kind: Kind | None = "model") -> list[dict[str, object]]:
    """One row per entry: what it is, where it comes from, and whether a verified local copy exists."""
    rows = []
    for e in list_weights(kind=kind):
        path, _ = _locate(e, weights_dir)
        if path is None:
            local = "missing"
        else:
            try:
                verify_file(e, path)
                local = "verified"
            except WeightsError:
                local = "hash mismatch"
            if local == "verified" and not e.verifiable:
                local = "present (no published hash)"
        rows.append({
            "model": e.model, "scale": e.scale, "variant": e.variant, "format": e.format, "path": e.path,
            "download": "direct (pinned)" if e.url and e.verifiable else "direct (no hash)" if e.url else "manual",
            "where": e.url or e.homepage, "source": e.source, "local": local,
        })
    return rows
