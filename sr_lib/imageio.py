"""Reading images strictly and writing files atomically.

Every reader answers a missing, corrupt or unusual file with one :class:`~sr_lib.errors.DataError` line; every
writer goes through a temporary file in the destination folder and ``os.replace``, so an interrupted run never
leaves a partial PNG, JSON or checkpoint behind.

:func:`read_image` gives the ``uint8`` RGB/grey image the evaluation protocol measures. :func:`read_image_native`
keeps what a user's image holds (16-bit samples, the alpha channel, the ICC profile, the EXIF orientation applied)
and :func:`write_image_native` writes it back as PNG; 16-bit colour PNGs, which PIL reduces to 8 bits, go through a
small PNG codec of this module (PNG specification, W3C 2003: Sec. 9 filtering, Sec. 8.2 Adam7 interlacing).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
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
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error) as exc:
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
    if im.format == "PNG" and _png_bit_depth(path) == 16:
        return _read_png_samples(path.read_bytes())
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


def _read_tiff16(path: Path) -> np.ndarray:
    """16-bit colour TIFF samples (PIL reduces them to 8 bits), through tifffile (a scikit-image dependency)."""
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

    8-bit images are encoded by PIL; 16-bit ones by :func:`encode_png` (PIL cannot write 16-bit colour PNGs).
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
        data = encode_png(samples, image.icc_profile)
    else:
        buf = io.BytesIO()
        pil = Image.fromarray(np.ascontiguousarray(samples[..., 0] if samples.shape[2] == 1 else samples))
        pil.save(buf, format="PNG", **({"icc_profile": image.icc_profile} if image.icc_profile else {}))
        data = buf.getvalue()
    atomic_write_bytes(path, data)


# ----------------------------------------------------------------------------------------------------------------
# A small PNG codec for 8- and 16-bit grey / grey+alpha / RGB / RGBA (no palette, no sub-byte depths)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> samples per pixel
_PNG_COLOR_TYPE = {c: t for t, c in _PNG_CHANNELS.items()}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_bit_depth(path: Path) -> int | None:
    """The IHDR bit depth of a PNG file (None if ``path`` is no PNG)."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24]


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of every chunk up to IEND, CRC-checked."""
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"CRC error in PNG chunk {kind!r}")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError("truncated PNG file (no IEND chunk)")


def _read_png_samples(data: bytes) -> np.ndarray:
    """:func:`decode_png`, with a ``tRNS`` colour turned into an alpha channel."""
    samples, transparent = decode_png(data)
    if transparent is None:
        return samples
    opaque = np.iinfo(samples.dtype).max
    alpha = np.where(np.all(samples == np.asarray(transparent, samples.dtype), axis=2), 0, opaque)
    return np.concatenate([samples, alpha[..., None].astype(samples.dtype)], axis=2)


def decode_png(data: bytes) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """Decode a PNG with bit depth 8 or 16 and colour type grey, grey+alpha, RGB or RGBA (interlaced or not).

    Returns the (H, W, C) ``uint8``/``uint16`` samples and the ``tRNS`` transparent colour (one value per channel) or
    None. Raises ``ValueError`` for a corrupt or unsupported file.
    """
    header: tuple[int, ...] | None = None
    idat: list[bytes] = []
    trns: bytes | None = None
    for kind, body in _png_chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"tRNS":
            trns = body
    if header is None or not idat:
        raise ValueError("PNG without IHDR or IDAT")
    width, height, depth, color_type, compression, filtering, interlace = header
    if depth not in (8, 16) or color_type not in _PNG_CHANNELS or compression or filtering or interlace > 1:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {color_type}, interlace {interlace})")
    channels = _PNG_CHANNELS[color_type]
    bpp = channels * depth // 8  # bytes per pixel: the filters' "left neighbour" distance
    dtype = np.dtype(">u2") if depth == 16 else np.dtype(np.uint8)
    raw = zlib.decompress(b"".join(idat))
    out = np.empty((height, width, channels), dtype=dtype)
    pos = 0
    for x0, y0, dx, dy in _ADAM7 if interlace else ((0, 0, 1, 1),):
        pass_w, pass_h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if pass_w <= 0 or pass_h <= 0:
            continue  # empty passes of small interlaced images store nothing
        stride = pass_w * bpp
        block = raw[pos : pos + pass_h * (stride + 1)]
        if len(block) != pass_h * (stride + 1):
            raise ValueError("PNG image data too short")
        pos += len(block)
        rows = _unfilter(np.frombuffer(block, np.uint8).reshape(pass_h, stride + 1), bpp)
        out[y0::dy, x0::dx] = rows.view(dtype).reshape(pass_h, pass_w, channels)
    transparent = None
    if trns is not None and color_type in (0, 2):
        transparent = struct.unpack(f">{channels}H", trns[: 2 * channels])
    return out.astype(dtype.newbyteorder("=")), transparent


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo the per-row filters (PNG Sec. 9.2) of (H, 1 + stride) filter-type + bytes rows."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.empty((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)  # the row above the first one counts as zeros
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:]
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum over the pixels of each byte position, modulo 256
            cur = line.reshape(-1, bpp).cumsum(axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:  # Up
            cur = line + prev
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one just decoded to its left
            cur = _unfilter_sequential(line, prev, bpp, kind)
        else:
            raise ValueError(f"unknown PNG filter type {kind}")
        out[y] = cur
        prev = out[y]
    return out


def _unfilter_sequential(line: np.ndarray, prev: np.ndarray, bpp: int, kind: int) -> np.ndarray:
    cur, up = bytearray(line.tobytes()), prev.tobytes()
    if kind == 3:
        for i in range(len(cur)):
            left = cur[i - bpp] if i >= bpp else 0
            cur[i] = (cur[i] + ((left + up[i]) >> 1)) & 0xFF
    else:
        for i in range(len(cur)):
            a, c = (cur[i - bpp], up[i - bpp]) if i >= bpp else (0, 0)
            b = up[i]
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return np.frombuffer(bytes(cur), np.uint8)


def encode_png(samples: np.ndarray, icc_profile: bytes | None = None, rows_per_block: int = 256) -> bytes:
    """PNG bytes of (H, W, C) ``uint8``/``uint16`` samples, C = 1..4 (grey, grey+alpha, RGB, RGBA).

    Each row gets the filter whose output has the least sum of absolute (signed byte) values, libpng's heuristic
    (PNG Sec. 12.8); the ICC profile, if any, is stored in an ``iCCP`` chunk.
    """
    if samples.ndim != 3 or samples.shape[2] not in _PNG_COLOR_TYPE or samples.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_png expects uint8/uint16 (H, W, 1..4), got {samples.dtype} {samples.shape}")
    height, width, channels = samples.shape
    depth = 16 if samples.dtype == np.uint16 else 8
    raw = np.ascontiguousarray(samples, dtype=">u2" if depth == 16 else np.uint8).view(np.uint8)
    raw = raw.reshape(height, width * channels * depth // 8)
    bpp = channels * depth // 8
    compressor = zlib.compressobj(6)
    parts = []
    for start in range(0, height, rows_per_block):
        above = raw[start - 1] if start else np.zeros(raw.shape[1], np.uint8)
        parts.append(compressor.compress(_filter_rows(raw[start : start + rows_per_block], above, bpp).tobytes()))
    parts.append(compressor.flush())

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    iccp = chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)) if icc_profile else b""
    return _PNG_SIGNATURE + chunk(b"IHDR", ihdr) + iccp + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _filter_rows(rows: np.ndarray, above: np.ndarray, bpp: int) -> np.ndarray:
    """(n, 1 + stride) filtered rows: per row the filter type byte, then the filtered bytes."""
    x = rows.astype(np.int16)
    b = np.concatenate([above[None].astype(np.int16), x[:-1]])
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = (np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]) & 0xFF).astype(np.uint8)
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, n)
    best = cost.argmin(axis=0)
    chosen = candidates[best, np.arange(x.shape[0])]
    return np.concatenate([best[:, None].astype(np.uint8), chosen], axis=1)
