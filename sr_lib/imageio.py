"""Reading images strictly and writing files atomically.

Every reader answers a missing, corrupt or unusual file with one :class:`~sr_lib.errors.DataError` line; every
writer goes through a temporary file in the destination folder and ``os.replace``, so an interrupted run never
leaves a partial PNG, JSON or checkpoint behind.

:func:`read_image` gives the ``uint8`` RGB/grey image the evaluation protocol measures. :func:`read_image_native`
keeps what a user's image holds (16-bit samples, the alpha channel, the ICC profile, the EXIF orientation applied)
and :func:`write_image_native` writes it back as PNG; 16-bit PNGs, whose colour PIL reduces to 8 bits, are read and
written with pypng, 16-bit colour TIFFs read with tifffile.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import png
from PIL import Image, UnidentifiedImageError

from .errors import DataError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``uint8``: (H, W) for grey images, (H, W, 3) RGB otherwise.

    Palette, alpha and 16-bit images are converted explicitly (alpha is dropped, 16-bit is scaled to 8-bit);
    anything PIL cannot decode raises :class:`DataError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                return np.clip(np.floor(arr * 255.0 / peak + 0.5), 0, 255).astype(np.uint8)
            if im.mode == "1":
                im = im.convert("L")
            elif im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot decode image {path}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    if arr.size == 0 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"empty image: {path}")
    return np.ascontiguousarray(arr)


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a ``uint8`` (H, W) or (H, W, 3) array as PNG/BMP (by suffix), atomically."""
    if image.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8, got {image.dtype}")
    path = Path(path)
    fmt = {".png": "PNG", ".bmp": "BMP"}.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"unsupported output format {path.suffix!r} (use .png or .bmp): {path}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Users' images as they are: 16-bit samples, alpha, ICC profile, EXIF orientation


@dataclass(frozen=True)
class NativeImage:
    """An image with the bit depth of its file.

    color: ``uint8`` or ``uint16``, (H, W) grey or (H, W, 3) RGB.
    alpha: the alpha channel, (H, W) of the same dtype, or None for opaque images.
    icc_profile: the embedded ICC profile (written back unchanged), or None.
    """

    color: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None

    @property
    def bit_depth(self) -> int:
        return 16 if self.color.dtype == np.uint16 else 8

    @property
    def is_grey(self) -> bool:
        return self.color.ndim == 2

    @property
    def mode(self) -> str:
        """PIL-style name of the layout: L, LA, RGB or RGBA, with ``;16`` for 16-bit images."""
        name = ("L" if self.is_grey else "RGB") + ("A" if self.alpha is not None else "")
        return name + (";16" if self.bit_depth == 16 else "")


_EXIF_ORIENTATION = 0x0112
_PIL_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV")


def read_image_native(path: str | Path) -> NativeImage:
    """Decode a user's image without losing information: 8- or 16-bit samples, alpha kept separately.

    Grey stays grey; palette images become RGB (RGBA when the palette has transparency); a ``tRNS`` colour becomes
    an alpha channel; bilevel becomes 8-bit grey; CMYK/YCbCr/LAB/HSV become RGB. 16-bit PNG and TIFF samples are
    kept (PIL alone would reduce colour ones to 8 bits). The EXIF orientation is applied, so the array is the image
    as viewers show it. Missing, corrupt, truncated or unsupported files (float or 32-bit samples) raise one
    :class:`DataError` line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            icc = im.info.get("icc_profile") or None
            orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            samples = _native_samples(im, path)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: {exc}".splitlines()[0]) from None
    except png.Error as exc:  # pypng's messages start with the class name already
        raise DataError(f"cannot decode image {path}: {exc}".splitlines()[0]) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot decode image {path}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    if samples.size == 0:
        raise DataError(f"empty image: {path}")
    samples = np.ascontiguousarray(_apply_orientation(samples, orientation))
    channels = samples.shape[2]
    color = samples[..., 0] if channels <= 2 else samples[..., :3]
    alpha = samples[..., channels - 1] if channels in (2, 4) else None
    return NativeImage(np.ascontiguousarray(color), None if alpha is None else np.ascontiguousarray(alpha), icc)


def _native_samples(im: Image.Image, path: Path) -> np.ndarray:
    """(H, W, C) ``uint8``/``uint16`` samples of an opened image, C = 1 (grey), 2 (grey+alpha), 3 (RGB), 4 (RGBA)."""
    if im.format == "PNG":
        samples16 = _read_png16(path)
        if samples16 is not None:
            return samples16
    if im.format == "TIFF" and im.mode in ("RGB", "RGBA", "LA") and _tiff_bits(im) > 8:
        return _read_tiff16(path)
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im).astype(np.uint16)[..., None]
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise DataError(f"{path}: 32-bit integer samples are not supported (values {arr.min()}..{arr.max()})")
        return arr.astype(np.uint16)[..., None]
    if mode == "F":
        raise DataError(f"{path}: 32-bit float samples are not supported; save the image as 8- or 16-bit")
    transparent = im.info.get("transparency") is not None
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if transparent or mode == "PA" else "RGB")
    elif mode in ("L", "RGB") and transparent:
        im = im.convert(mode + "A")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode in _PIL_TO_RGB:
        im = im.convert("RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise DataError(f"{path}: unsupported pixel format {mode!r}")
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip (H, W, C) samples as the EXIF orientation tag (1..8) says (same result as PIL's exif_transpose)."""
    if orientation == 2:
        return arr[:, ::-1]
    if orientation == 3:
        return arr[::-1, ::-1]
    if orientation == 4:
        return arr[::-1]
    if orientation == 5:
        return arr.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(arr, k=-1)
    if orientation == 7:
        return arr[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(arr, k=1)
    return arr


def _tiff_bits(im: Image.Image) -> int:
    bits = getattr(im, "tag_v2", {}).get(258, 8)  # BitsPerSample
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _read_png16(path: Path) -> np.ndarray | None:
    """(H, W, C) ``uint16`` samples of a 16-bit PNG, a ``tRNS`` colour turned into alpha; None for other bit depths.

    PIL keeps only the high byte of 16-bit colour PNGs, so these are decoded by pypng (which also checks every CRC).
    """
    with open(path, "rb") as f:
        _, ihdr = png.Reader(file=f).chunk()  # the first chunk, IHDR; byte 8 is the bit depth (PNG Sec. 11.2.2)
        if ihdr[8] != 16:
            return None  # PIL reads these; pypng would reject some files PIL accepts (e.g. an overlong tRNS)
        f.seek(0)
        width, height, rows, info = png.Reader(file=f).read()
        decoded = [np.frombuffer(row, np.uint16) for row in rows]  # pypng rows are native-order uint16 arrays
    if len(decoded) != height:  # pypng accepts image data that ends on a row boundary too early
        raise DataError(f"cannot decode image {path}: PNG image data holds {len(decoded)} of {height} rows")
    samples = np.stack(decoded).reshape(height, width, info["planes"])
    transparent = info.get("transparent")  # PNG Sec. 11.3.2.1: pixels of this grey/RGB value are fully transparent
    if transparent is None:
        return samples
    opaque = ~np.all(samples == np.asarray(transparent, np.uint16), axis=2)
    return np.concatenate([samples, np.where(opaque, 65535, 0).astype(np.uint16)[..., None]], axis=2)


def _read_tiff16(path: Path) -> np.ndarray:
    """16-bit colour TIFF samples (PIL reduces them to 8 bits), through tifffile (imported here: it is slow to load)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        arr, axes = page.asarray(), page.axes
    if axes == "SYX":
        arr, axes = np.moveaxis(arr, 0, -1), "YXS"
    if axes != "YXS" or arr.dtype != np.uint16 or arr.shape[2] not in (2, 3, 4):
        raise DataError(f"{path}: unsupported TIFF layout {axes} {arr.dtype} (expected 16-bit grey+alpha, RGB or RGBA)")
    return arr


def write_image_native(path: str | Path, image: NativeImage) -> None:
    """Write ``image`` as PNG with its bit depth, alpha channel and ICC profile, atomically.

    8-bit images are encoded by PIL; 16-bit ones by :func:`_encode_png16` (PIL cannot write 16-bit colour PNGs).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"unsupported output format {path.suffix!r} (use .png): {path}")
    color, alpha = image.color, image.alpha
    if color.dtype not in (np.uint8, np.uint16) or color.ndim not in (2, 3) or color.shape[2:] not in ((), (3,)):
        raise ValueError(f"write_image_native expects uint8/uint16 (H, W) or (H, W, 3), got {color.dtype} "
                         f"{color.shape}")
    if alpha is not None and (alpha.dtype != color.dtype or alpha.shape != color.shape[:2]):
        raise ValueError(f"alpha {alpha.dtype} {alpha.shape} does not match the colour {color.dtype} {color.shape}")
    planes = color[..., None] if color.ndim == 2 else color
    samples = planes if alpha is None else np.concatenate([planes, alpha[..., None]], axis=2)
    if samples.dtype == np.uint16:
        data = _encode_png16(samples, image.icc_profile)
    else:
        buf = io.BytesIO()
        pil = Image.fromarray(np.ascontiguousarray(samples[..., 0] if samples.shape[2] == 1 else samples))
        pil.save(buf, format="PNG", **({"icc_profile": image.icc_profile} if image.icc_profile else {}))
        data = buf.getvalue()
    atomic_write_bytes(path, data)


def _encode_png16(samples: np.ndarray, icc_profile: bytes | None) -> bytes:
    """PNG bytes of (H, W, C) ``uint16`` samples, C = 1..4 (grey, grey+alpha, RGB, RGBA), written by pypng.

    pypng has no ICC option, so the profile goes into an ``iCCP`` chunk inserted after IHDR (PNG Sec. 11.3.3.3:
    profile name, a zero byte, compression method 0, the zlib-compressed profile).
    """
    height, width, channels = samples.shape
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
    big_endian = np.ascontiguousarray(samples, dtype=">u2").reshape(height, width * channels)
    buf = io.BytesIO()
    writer.write_packed(buf, (row.tobytes() for row in big_endian))  # packed rows: the bytes PNG stores
    if not icc_profile:
        return buf.getvalue()
    ihdr, *rest = png.Reader(bytes=buf.getvalue()).chunks()
    out = io.BytesIO()
    png.write_chunks(out, [ihdr, (b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)), *rest])
    return out.getvalue()
