"""Data sets: a registry with pinned origins and hashes, resolution of where the files are, benchmark pairs,
the embedded offline "Demo" set, and the HR images of the training sets (patches: :mod:`sr_lib.train.patches`).

Layout of a data root (the same as ``../shared/datasets``)::

    <root>/<Set>/HR/<name>.<ext>
    <root>/<Set>/LR_bicubic/X<s>/<name>.png      (optional: MATLAB-made LR images)

Where a set is looked for, first match wins: ``data_dir`` argument (``--data-dir``) > ``$SR_DATA_DIR`` >
the local cache (``$SR_CACHE_DIR/datasets`` or ``~/.cache/sr_lib/datasets``) > a download (``sr-lib data fetch``,
through :mod:`sr_lib.download`, like the weights).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np

from . import download as downloads
from .degrade.bicubic import downscale, imresize, modcrop
from .errors import DataError
from .imageio import IMAGE_SUFFIXES, read_image, sha256_file


@dataclass(frozen=True)
class PinnedFile:
    """One file of a data set: its path below the data root, sha256 and public URL (pinned to a commit)."""

    path: str
    sha256: str | None
    url: str | None


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    role: Literal["test", "train", "demo"]
    description: str
    files: tuple[PinnedFile, ...] = ()
    homepage: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.files) and all(f.sha256 for f in self.files)


def _load_pinned() -> dict[str, list[PinnedFile]]:
    table: dict[str, list[PinnedFile]] = {}
    text = resources.files("sr_lib").joinpath("resources/datasets.tsv").read_text()
    rows = csv.DictReader((line for line in text.splitlines() if not line.startswith("#")), delimiter="\t")
    for row in rows:
        table.setdefault(row["dataset"], []).append(PinnedFile(row["file"], row["sha256"], row["url"]))
    return table


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, DatasetInfo]:
    """All known data sets (pinned ones carry a URL and sha256 for every file)."""
    pinned = _load_pinned()
    entries = [
        DatasetInfo("Set5", "test", "5 images (Bevilacqua et al. 2012), HR + MATLAB LR x2/x3/x4", tuple(pinned["Set5"])),
        DatasetInfo("Set14", "test", "14 images (Zeyde et al. 2010), HR + MATLAB LR x2/x3/x4", tuple(pinned["Set14"])),
        DatasetInfo("B100", "test", "100 BSDS500 val images (Martin et al. 2001), HR JPEGs", tuple(pinned["B100"])),
        DatasetInfo("T91", "train", "91 training images (Yang et al. 2010)", tuple(pinned["T91"])),
        DatasetInfo("BSD200", "train", "200 BSDS300 train images; T91 + BSD200 = the '291' set of VDSR", tuple(pinned["BSD200"])),
        DatasetInfo("Urban100", "test", "100 urban images (Huang et al. 2015), HR + MATLAB LR x2/x4",
                    tuple(pinned["Urban100"]), homepage="https://github.com/jbhuang0604/SelfExSR"),
        DatasetInfo("Manga109", "test", "109 manga volumes (Matsui et al. 2017); licence requires a request",
                    homepage="http://www.manga109.org/en/"),
        DatasetInfo("DIV2K", "train", "800 train + 100 val 2K images (Agustsson & Timofte 2017); no pinned hash yet",
                    homepage="https://data.vision.ee.ethz.ch/cvl/DIV2K/"),
        DatasetInfo("Demo", "demo", "5 photos shipped inside scikit-image (offline fallback, not a benchmark)"),
    ]
    return {d.name: d for d in entries}


def get_info(name: str) -> DatasetInfo:
    reg = registry()
    for key in reg:
        if key.lower() == name.lower():
            return reg[key]
    raise DataError(f"unknown data set '{name}'; known: {', '.join(reg)}")


def cache_dir() -> Path:
    """Where downloaded sets go: ``$SR_CACHE_DIR/datasets``, or ``~/.cache/sr_lib/datasets`` (:mod:`sr_lib.download`)."""
    return downloads.cache_dir("datasets")


def candidate_roots(data_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """Data roots in resolution order, each with the reason it is searched."""
    roots: list[tuple[str, Path]] = []
    if data_dir:
        roots.append(("--data-dir", Path(data_dir)))
    if os.environ.get("SR_DATA_DIR"):
        roots.append(("$SR_DATA_DIR", Path(os.environ["SR_DATA_DIR"])))
    roots.append(("cache", cache_dir()))
    return roots


def resolve_dataset(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder of set ``name`` (containing ``HR/``), following the resolution order; one-line error if absent."""
    info = get_info(name)
    if info.name == "Demo":
        raise DataError("the Demo set is embedded; use load_benchmark('Demo', ...)")
    searched = []
    for _, root in candidate_roots(data_dir):
        folder = root / info.name
        if (folder / "HR").is_dir():
            return folder
        searched.append(str(folder))
        if data_dir and root == Path(data_dir):
            break  # an explicit --data-dir is not silently overridden
    hint = f"run 'sr-lib data fetch {info.name}'" if info.pinned else f"download it from {info.homepage or 'its source'}"
    raise DataError(f"data set {info.name} not found (searched {', '.join(searched)}); {hint} or pass --data-dir")


def is_present(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether :func:`resolve_dataset` finds set ``name`` (no download, no error)."""
    try:
        resolve_dataset(name, data_dir)
    except DataError:
        return False
    return True


def hr_files(folder: Path) -> list[Path]:
    files = sorted(p for p in (folder / "HR").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images in {folder / 'HR'}")
    return files


@dataclass
class BenchmarkPair:
    name: str
    hr: np.ndarray  # uint8, modcropped to a multiple of the scale
    lr: np.ndarray  # uint8 (file or exact downscale), or float64 when lr_precision == "float"
    files: tuple[Path, ...] = ()  # the files read (for provenance hashes)


LRPrecision = Literal["uint8", "float"]


def demo_images() -> dict[str, np.ndarray]:
    """The embedded Demo set: five photos from scikit-image's wheel (four RGB, one grey)."""
    from skimage import data as skdata

    return {n: getattr(skdata, n)() for n in ("astronaut", "camera", "chelsea", "coffee", "rocket")}


def load_benchmark(
    name: str, scale: int, data_dir: str | Path | None = None, lr_precision: LRPrecision = "uint8"
) -> list[BenchmarkPair]:
    """HR/LR pairs of a benchmark set at ``scale``.

    lr_precision="uint8" (the standard): the set's MATLAB-made LR file when present, else the exact MATLAB
    downscale of the HR image (bit-identical to those files). "float": the downscale kept in float64, never
    rounded (what some reimplementations fed their networks).
    """
    if scale < 1:
        raise DataError(f"scale must be a positive integer, got {scale}")
    if get_info(name).name == "Demo":
        images = demo_images().items()
        folder = None
    else:
        folder = resolve_dataset(name, data_dir)
        images = ((p.stem, p) for p in hr_files(folder))  # type: ignore[assignment]
    pairs = []
    for stem, src in images:
        lr_file = None
        hr_full = src if isinstance(src, np.ndarray) else read_image(src)
        hr = modcrop(hr_full, scale)
        if min(hr.shape[:2]) < 2 * scale:
            raise DataError(f"{stem}: image {hr_full.shape[1]}x{hr_full.shape[0]} too small for x{scale}")
        if lr_precision == "float":
            lr: np.ndarray = imresize(hr.astype(np.float64), 1.0 / scale)
        else:
            lr_file = folder / "LR_bicubic" / f"X{scale}" / f"{stem}.png" if folder else None
            lr = read_image(lr_file) if lr_file is not None and lr_file.is_file() else downscale(hr_full, scale)
            if lr.shape[:2] != (hr.shape[0] // scale, hr.shape[1] // scale):
                raise DataError(f"{lr_file}: LR size {lr.shape[:2]} does not match HR {hr.shape[:2]} / {scale}")
        used = tuple(p for p in (src, lr_file if lr_precision == "uint8" else None) if isinstance(p, Path) and p.is_file())
        pairs.append(BenchmarkPair(stem, hr, lr, used))
    return pairs


# ----------------------------------------------------------------------------------------------- verify / fetch


def verify(name: str, data_dir: str | Path | None = None) -> tuple[int, list[str]]:
    """Check every pinned file of ``name``; returns (files checked, problems as one line each)."""
    info = get_info(name)
    if not info.pinned:
        return 0, [f"{info.name}: no pinned hashes to verify against"]
    folder = resolve_dataset(name, data_dir)
    root = folder.parent
    problems = []
    for f in info.files:
        path = root / f.path
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif not downloads.hash_matches(sha256_file(path), f.sha256):
            problems.append(f"wrong sha256: {path}")
    return len(info.files), problems


def lr_scale_of(path: str) -> int | None:
    """The scale of a pinned ``<Set>/LR_bicubic/X<s>/<name>`` file, or None for any other file."""
    parts = Path(path).parts
    if len(parts) == 4 and parts[1] == "LR_bicubic" and re.fullmatch(r"X[1-9][0-9]*", parts[2]):
        return int(parts[2][1:])
    return None


def check_lr_file(lr_path: Path, hr_path: Path, scale: int) -> None:
    """One-line :class:`DataError` unless ``lr_path`` is, pixel for pixel, MATLAB ``imresize(modcrop(HR, s), 1/s)``
    of ``hr_path`` (:func:`sr_lib.degrade.downscale`): what every ``LR_bicubic`` file must be, because
    :func:`load_benchmark` prefers the file to computing that downscale."""
    lr, expected = read_image(lr_path), downscale(read_image(hr_path), scale)
    if lr.shape != expected.shape or not np.array_equal(lr, expected):
        raise DataError(f"{lr_path}: not the MATLAB bicubic x{scale} downscale of {hr_path.name}")


def fetch(name: str, dest: str | Path | None = None, timeout: float = 60.0) -> Path:
    """Download every pinned file of ``name`` into ``dest`` (default: the cache), checking each sha256.

    Each file goes through :func:`sr_lib.download.download` (temporary name, hash check, atomic rename); files
    already there with the right hash are kept. HR files come first; each ``LR_bicubic`` file is then also checked
    against the exact downscale of its HR image (:func:`check_lr_file`; some origins store it under another name,
    e.g. Urban100's x2 LR is SelfExSR's ``image_SRF_2/*_SRF_2_HR.png``) and removed if it is not that image.
    """
    info = get_info(name)
    if not info.pinned:
        raise DataError(f"{info.name} has no pinned download; get it from {info.homepage or 'its source'}")
    root = Path(dest) if dest else cache_dir()
    hr_by_stem = {Path(f.path).stem: f for f in info.files if Path(f.path).parent.name == "HR"}
    for f in sorted(info.files, key=lambda f: lr_scale_of(f.path) is not None):  # stable: HR files first
        assert f.url is not None and f.sha256 is not None  # info.pinned
        target = downloads.download(f.url, root / f.path, sha256=f.sha256, what=f.path, timeout=timeout,
                                    error=DataError)
        scale, hr = lr_scale_of(f.path), hr_by_stem.get(Path(f.path).stem)
        if scale is not None and hr is not None:
            try:
                check_lr_file(target, root / hr.path, scale)
            except DataError as exc:
                target.unlink()
                raise DataError(f"{exc} (pinned from {f.url}); removed it") from None
    return root / info.name


# ------------------------------------------------------------------------------------------ training images


def iter_hr_images(names: Sequence[str], data_dir: str | Path | None = None) -> Iterator[np.ndarray]:
    """HR images of several sets (e.g. ``["T91"]`` or ``["T91", "BSD200"]``), or the Demo set."""
    for name in names:
        if get_info(name).name == "Demo":
            yield from demo_images().values()
            continue
        for path in hr_files(resolve_dataset(name, data_dir)):
            yield read_image(path)
