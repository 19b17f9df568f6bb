"""Reading images strictly and writing files atomically.

Every reader answers a missing, corrupt or unusual file with one :class:`~sr_lib.errors.DataError` line; every
writer goes through a temporary file in the destination folder and ``os.replace``, so an interrupted run never
leaves a partial PNG, JSON or checkpoint behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
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
