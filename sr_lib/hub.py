"""Pretrained weights: where the authors published them, how to check them, where to find them offline.

A :class:`WeightsEntry` names the registry model (and scale) a file belongs to, the URL of the authors' release
(pinned: a commit in the URL, or a hash of the content), the expected sha256 where it is known (the full hash, or
the 8-hex prefix that a torch-hub style file name carries, e.g. EDSR's ``edsr_x2-0edfb8a3.pt``), the file's path
below ``$SR_WEIGHTS_DIR``, its format and where it comes from (``repo@commit:path``). Where the authors only
published a Google Drive / Baidu / Dropbox page, ``url`` is None and ``homepage`` is that page: those files are
downloaded by hand and put at ``path`` below a weights folder. The entries live beside each architecture, in its
registry entry (``ModelEntry.weights``, like timm's ``default_cfgs``); this module keeps only the files of no
registered model (IKC's PCA matrix, torchvision's VGG19).

Resolution order of :func:`resolve_weights` (the first folder holding the file wins):

1. the ``weights_dir`` argument (``--weights-dir``),
2. ``$SR_WEIGHTS_DIR``,
3. the cache: ``$SR_CACHE_DIR/weights`` if ``SR_CACHE_DIR`` is set, else ``~/.cache/sr_lib/weights``,

and only with ``download=True`` a download into the cache (:func:`sr_lib.download.download`: temporary file, sha256
check, then an atomic rename). Every file is hash-checked before it is returned; files are read by
:func:`sr_lib.weights.read_checkpoint`, which never executes code from a checkpoint (``.mat`` through SciPy, legacy
pickles through the restricted unpickler, everything else with ``torch.load(weights_only=True)``). Downloading a
file with no known hash needs ``allow_unverified=True``; a file with no published hash that the user placed in a
weights folder by hand is used as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from . import download as downloads
from .download import github_raw_url, hash_matches
from .errors import WeightsError

Format = Literal["mat", "legacy-pickle", "state-dict", "npz"]
Kind = Literal["model", "aux"]


@dataclass(frozen=True)
class WeightsEntry:
    """One published weights file.

    model: registry name (``sr_lib.models.list_models()``) the file loads into, or None for an auxiliary file of
        a model that is not registered (IKC's PCA matrix).
    scale: the scale the file is for; None when one file serves every scale (VDSR, MDSR).
    path: where the file lives below a weights folder (``$SR_WEIGHTS_DIR``, the cache), ``/``-separated.
    format: ``"mat"`` (MATLAB, SRCNN), ``"legacy-pickle"`` (pre-zip torch pickle: a whole pickled module such as
        VDSR's, or a bare tensor such as DAN's PCA matrices), ``"state-dict"`` (a torch state dict), ``"npz"``
        (numpy arrays, read with ``allow_pickle=False``: NIQE's pristine model).
    source: ``repo@commit:path`` of the file (or of the README that links it).
    url: direct download URL (https, pinned), or None where only a web page exists.
    sha256: full expected sha256, where known.
    sha256_prefix: leading hex digits of the sha256 given by the file name (torch-hub convention), where known.
    homepage: the page to download from by hand (Google Drive / Baidu / Dropbox / Jianguoyun) when ``url`` is None,
        or an alternative mirror.
    mirrors: further direct URLs of the same file, tried in order when ``url`` fails (each download is checked
        against the same hash, so a mirror cannot substitute another file).
    variant: what distinguishes several files for the same model and scale (e.g. SRCNN's training set).
    kind: ``"model"`` (loads into the network) or ``"aux"`` (a file the model needs, e.g. DAN's PCA matrix).
    notes: anything a user must know (manual download, password, archive to unpack, ...).
    pickle_classes: for a legacy pickle of a whole module, the dotted class names it references, which the
        restricted unpickler maps to inert stand-ins (VDSR's ``vdsr.Net``, ...); any other class is refused.
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
    pickle_classes: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()

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
        return hash_matches(digest, self.sha256, self.sha256_prefix)


# ----------------------------------------------------------------------------------------------------------------
# The registry: each model's entries live in its registry entry (``ModelEntry.weights``, beside the architecture);
# here only the files of no registered model.

#: torchvision's ImageNet VGG19 (SRGAN's VGG54 content loss, :mod:`sr_lib.losses`): its ``model_urls`` dict.
VGG19_WEIGHTS = WeightsEntry(
    model=None, scale=None, path="torchvision/vgg19-dcbb9e9d.pth", format="state-dict",
    source="pytorch/vision@1c1feb57a2522dfccdac4a7984897818ee84cbd9:torchvision/models/vgg.py (model_urls)",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    sha256="dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", sha256_prefix="dcbb9e9d",
    kind="aux", variant="vgg19", notes="ImageNet VGG19 of torchvision (548 MiB); a plain state dict",
)

#: NIQE's pristine-image model (Mittal et al. 2013; the LIVE MATLAB release's ``modelparameters.mat`` as numpy arrays),
#: read by :func:`sr_lib.metrics.niqe`.
_BASICSR = "XPixelGroup/BasicSR@8d56e3a045f9fb3e1d8872f92ee4a4f07f886b0a"
NIQE_MODEL = WeightsEntry(
    model=None, scale=None, path="niqe/niqe_pris_params.npz", format="npz",
    source=f"{_BASICSR}:basicsr/metrics/niqe_pris_params.npz",
    url=github_raw_url(_BASICSR, "basicsr/metrics/niqe_pris_params.npz"),
    sha256="2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296", kind="aux", variant="niqe",
    notes="mu_pris_param (1, 36), cov_pris_param (36, 36), gaussian_window (7, 7); Apache-2.0 (BasicSR)",
)


def _unregistered_files() -> tuple[WeightsEntry, ...]:
    """Auxiliary files of no registered model: IKC's PCA matrix (in DAN's repository), VGG19, NIQE's model."""
    from .models import get_model_entry

    dan = get_model_entry("dan-v1")
    ikc = WeightsEntry(
        model=None, scale=None, path="dan_aux/pca_matrix/IKC/pca_matrix.pth", format="legacy-pickle",
        source=dan.official_source("pca_matrix/IKC/pca_matrix.pth"),
        url=github_raw_url(str(dan.official_code), "pca_matrix/IKC/pca_matrix.pth"),
        sha256="007de51b9d559f8c8b5e19179576d3c2ffa2b91a0a8645275e9d42106e4f0588", kind="aux", variant="pca_matrix",
        notes="IKC's PCA kernel-code matrix, shipped in DAN's repository (one float32 tensor; read with "
              "sr_lib.models.dan.load_pca_matrix)",
    )
    return (ikc, VGG19_WEIGHTS, NIQE_MODEL)


_REGISTRY: tuple[WeightsEntry, ...] | None = None


def _registry() -> tuple[WeightsEntry, ...]:
    global _REGISTRY
    if _REGISTRY is None:
        from .models import get_model_entry, list_models

        entries = [w for name in list_models() for w in get_model_entry(name).weights]
        _REGISTRY = tuple(entries) + _unregistered_files()
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


def find_aux(variant: str, model: str | None = None) -> WeightsEntry:
    """The auxiliary file whose ``variant`` is ``variant`` (e.g. ``find_aux("vgg19")``,
    ``find_aux("pca_matrix", "dan-v1")``); one :class:`WeightsError` line listing the known ones otherwise."""
    found = [e for e in list_weights(kind="aux") if e.variant == variant and e.model == model]
    if not found:
        known = ", ".join(f"{e.variant}" + (f" ({e.model})" if e.model else "") for e in list_weights(kind="aux"))
        raise WeightsError(f"no auxiliary file '{variant}'" + (f" for {model}" if model else "") + f"; known: {known}")
    return found[0]


def cache_dir() -> Path:
    """Where downloads go: ``$SR_CACHE_DIR/weights``, or ``~/.cache/sr_lib/weights`` (:mod:`sr_lib.download`)."""
    return downloads.cache_dir("weights")


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

    Files of entries with no published hash (manual downloads placed by the user) are accepted as they are; the
    loader still executes nothing from them.
    """
    return downloads.check_file(path, sha256=entry.sha256, sha256_prefix=entry.sha256_prefix, what=entry.label,
                                error=WeightsError)


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
    """Download ``entry`` to ``dest/entry.path`` (default: the cache) with :func:`sr_lib.download.download`:
    temporary file, hash check, atomic rename; an existing file with the right hash is kept."""
    if entry.url is None:
        where = entry.homepage or entry.source
        raise WeightsError(f"{entry.label} weights have no direct download; get them from {where} "
                           f"and put the file at <weights dir>/{entry.path}")
    failures = []
    for url in (entry.url, *entry.mirrors):
        try:
            return downloads.download(url, Path(dest or cache_dir()) / entry.path, sha256=entry.sha256,
                                      sha256_prefix=entry.sha256_prefix, allow_unverified=allow_unverified,
                                      what=f"{entry.label} weights", timeout=timeout, error=WeightsError)
        except WeightsError as exc:
            failures.append(str(exc))
    if len(failures) == 1:
        raise WeightsError(failures[0])
    raise WeightsError(f"{entry.label} weights: all {len(failures)} sources failed; first: {failures[0]}")


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
    if entry.url and entry.model is None:
        how = f"download {entry.url}"
    elif entry.url:
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
    load_weights(net, path, model)
    return net.eval()


def resolve_aux(variant: str, model: str | None = None, weights_dir: str | Path | None = None,
                download: bool = False, *, timeout: float = 60.0) -> Path:
    """The local, hash-checked path of the auxiliary file :func:`find_aux` names (downloaded only if ``download``)."""
    return resolve_entry(find_aux(variant, model), weights_dir, download, timeout=timeout)


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
