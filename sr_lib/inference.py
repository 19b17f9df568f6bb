"""Model-agnostic inference protocols: geometric self-ensemble, tiled inference, and the official ``forward_chop``.

Every function takes ``fn``, any callable mapping an NCHW LR batch to its NCHW SR batch (a model, or
``lambda x: entry.predict(model, x)``), so the same protocol applies to every network of the book.

* :func:`self_ensemble` — the x8 geometric self-ensemble of the EDSR paper (Sec. 4.3, "EDSR+"); RCAN+, SAN+ ...
  use the same ``forward_x8`` code.
* :func:`tiled_forward` — bounded-memory inference on large images: LR tiles with ``overlap`` pixels of context.
  For a purely convolutional network (``ModelEntry.tile_safe``) whose receptive-field radius in LR pixels is
  at most ``overlap``, the result equals whole-image inference (up to float rounding). Global pooling, attention
  over the whole image or per-image normalisation make it a different function, whatever the overlap.
* :func:`forward_chop` — the quadrant chopping of the EDSR-PyTorch code base (``Model.forward_chop`` in
  ``model/__init__.py``), which the official test commands of RCAN, SAN, MSRN and CSNLN use (``--chop``).
  It keeps only ``shave`` (10) LR pixels of context at the seams, so it equals whole-image inference only when
  the receptive-field radius is at most ``shave``: for EDSR (about 68 LR pixels) or RCAN it is an approximation.

No function here changes the training mode or disables autograd; wrap calls in ``torch.no_grad()`` for inference.
"""

from __future__ import annotations

from typing import Callable

import torch

from .errors import ConfigError, DataError

Tensor = torch.Tensor
SRFunction = Callable[[Tensor], Tensor]


def _check_nchw(x: Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"expected an NCHW image batch (4-D tensor), got {shape}")


def _check_scale(scale: int) -> None:
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale!r}")


def _checked_call(fn: SRFunction, x: Tensor, scale: int) -> Tensor:
    y = fn(x)
    h, w = x.shape[-2:]
    ok = isinstance(y, torch.Tensor) and y.dim() == 4 and y.shape[0] == x.shape[0]
    if not ok or tuple(y.shape[-2:]) != (scale * h, scale * w):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ConfigError(f"fn must map (B, C, {h}, {w}) to (B, C', {scale * h}, {scale * w}) for x{scale}, got {got}")
    return y


# ----------------------------------------------------------------------------------------------------------------
# Geometric self-ensemble


def _augment(x: Tensor, i: int) -> Tensor:
    """Transform ``i`` of 8 (official order): bit 0 flips W ('v'), bit 1 flips H ('h'), bit 2 transposes ('t')."""
    if i & 1:
        x = x.flip(-1)
    if i & 2:
        x = x.flip(-2)
    if i & 4:
        x = x.transpose(-2, -1)
    return x


def _deaugment(y: Tensor, i: int) -> Tensor:
    """Inverse of :func:`_augment` (the same operations in reverse order)."""
    if i & 4:
        y = y.transpose(-2, -1)
    if i & 2:
        y = y.flip(-2)
    if i & 1:
        y = y.flip(-1)
    return y


def self_ensemble(fn: SRFunction, x: Tensor) -> Tensor:
    """Geometric self-ensemble x8 (EDSR paper Sec. 4.3; "EDSR+", "RCAN+", ...).

    Runs ``fn`` on the 8 images obtained from ``x`` by flips and transposition (the dihedral group: the 4
    rotations with and without a flip), maps every output back with the inverse transform, and returns their
    mean. The transforms come in the official ``forward_x8`` order. Differences from the official code: the
    mean is taken per image (the official one averages over the concatenated batch, which is only right for
    batch size 1) and the input dtype is kept (the official one round-trips through float32 numpy arrays).
    """
    _check_nchw(x)
    outputs = [_deaugment(fn(_augment(x, i)), i) for i in range(8)]
    shapes = {tuple(y.shape) for y in outputs}
    if len(shapes) != 1:
        raise ConfigError(f"self_ensemble: outputs of the 8 transforms have different shapes {sorted(shapes)}")
    return torch.stack(outputs).mean(dim=0)


# ----------------------------------------------------------------------------------------------------------------
# Tiled inference


def tiled_forward(fn: SRFunction, x: Tensor, scale: int, tile: int, overlap: int) -> Tensor:
    """Super-resolve ``x`` tile by tile with bounded memory.

    The LR image is cut into a grid of ``tile`` x ``tile`` cells (smaller at the right and bottom borders when the
    size is not a multiple of ``tile``). Each cell is run through ``fn`` together with up to ``overlap`` pixels of
    context on each side (less at the image border, where the image ends anyway); the context is cropped from the
    SR output (``scale * overlap`` HR pixels) and the cell's SR block is written to its place. The largest input
    ``fn`` sees is ``(tile + 2 * overlap)`` squared.

    Exactness: for a network made of local operations whose padding mimics the image border (zero padding) the
    output equals whole-image inference when ``overlap`` >= the receptive-field radius in LR pixels (EDSR:
    ``2 * n_resblocks + 4`` including head/body/upsampler convs). Networks with global pooling (RCAN's channel
    attention), non-local attention or instance norm give a different result (``ModelEntry.tile_safe=False``).

    fn: maps (B, C, h, w) to (B, C', scale*h, scale*w). x: (B, C, H, W). scale: the upscaling factor of ``fn``.
    tile: cell size in LR pixels (> 0). overlap: context in LR pixels on each side (>= 0).
    """
    _check_nchw(x)
    _check_scale(scale)
    if not isinstance(tile, int) or isinstance(tile, bool) or tile <= 0:
        raise ConfigError(f"tile must be a positive integer (LR pixels), got {tile!r}")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        raise ConfigError(f"overlap must be a non-negative integer (LR pixels), got {overlap!r}")

    h, w = x.shape[-2:]
    out: Tensor | None = None
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        cy0, cy1 = max(y0 - overlap, 0), min(y1 + overlap, h)  # cell plus context, clipped to the image
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            cx0, cx1 = max(x0 - overlap, 0), min(x1 + overlap, w)
            sr = _checked_call(fn, x[..., cy0:cy1, cx0:cx1], scale)
            if out is None:
                out = sr.new_empty(sr.shape[0], sr.shape[1], scale * h, scale * w)
            oy, ox = scale * (y0 - cy0), scale * (x0 - cx0)  # where the cell starts inside the SR tile
            out[..., scale * y0 : scale * y1, scale * x0 : scale * x1] = sr[
                ..., oy : oy + scale * (y1 - y0), ox : ox + scale * (x1 - x0)
            ]
    if out is None:  # empty image
        raise DataError(f"cannot super-resolve an empty image of size {h}x{w}")
    return out


# ----------------------------------------------------------------------------------------------------------------
# The official quadrant chop


def forward_chop(fn: SRFunction, x: Tensor, scale: int, min_size: int = 160000, shave: int = 10) -> Tensor:
    """The EDSR-code-base ``forward_chop`` protocol (``--chop`` in the RCAN / SAN / MSRN test commands).

    Always splits ``x`` into four overlapping quadrants of ``(h//2 + shave) x (w//2 + shave)`` LR pixels (top-left,
    top-right, bottom-left, bottom-right). A quadrant with fewer than ``min_size`` pixels is run through ``fn``,
    a larger one is chopped again recursively. The output keeps, from each quadrant's SR, the block of the
    image quarter it covers (the top ``scale * (h//2)`` rows and left ``scale * (w//2)`` columns go to the top/left
    quadrants, the remaining rows/columns to the bottom/right ones); the ``shave`` context at the seams is dropped.
    Defaults ``min_size=160000, shave=10`` are the official ones (CSNLN's copy uses ``min_size=3600`` and rounds
    the quadrant up to a multiple of the scale, which this function does not do).

    Source: yulunzhang/RCAN ``RCAN_TestCode/code/model/__init__.py`` (identical in daitao/SAN and
    MIVRC/MSRN-PyTorch, from EDSR-PyTorch). Official quirks not reproduced: the quadrants of one level are run one at
    a time (as with one GPU); for images with ``h - h//2 < shave`` (or the same for ``w``) the official slicing
    ``x[..., h - h_size:h]`` wraps around with a negative start and the stitching fails with a shape error, whereas
    here the quadrant is clipped to the image (it is then the whole height, and the result is still exact);
    when quadrants stop shrinking (``min_size <= (2 * shave) ** 2``) the official recursion never ends, whereas
    here they are then run as they are.
    The later EDSR-PyTorch rewrite (``forward_chop(*args)``) recurses when ``h * w >= 4 * min_size`` instead and
    fails when ``scale * h`` or ``scale * w`` is odd.
    """
    _check_nchw(x)
    _check_scale(scale)
    if not isinstance(shave, int) or isinstance(shave, bool) or shave < 0:
        raise ConfigError(f"shave must be a non-negative integer (LR pixels), got {shave!r}")
    if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size <= 0:
        raise ConfigError(f"min_size must be a positive integer (LR pixels), got {min_size!r}")
    return _chop(fn, x, scale, min_size, shave)


def _chop(fn: SRFunction, x: Tensor, scale: int, min_size: int, shave: int) -> Tensor:
    h, w = x.shape[-2:]
    h_half, w_half = h // 2, w // 2
    h_size, w_size = h_half + shave, w_half + shave
    top, bottom = (0, min(h_size, h)), (max(h - h_size, 0), h)
    left, right = (0, min(w_size, w)), (max(w - w_size, 0), w)
    boxes = [(top, left), (top, right), (bottom, left), (bottom, right)]
    patches = [x[..., r0:r1, c0:c1] for (r0, r1), (c0, c1) in boxes]

    # Recurse only while quadrants shrink: otherwise the official code recurses forever (RecursionError).
    shrinks = all(p.shape[-2] * p.shape[-1] < h * w for p in patches)
    if h_size * w_size < min_size or not shrinks:
        srs = [_checked_call(fn, p, scale) for p in patches]
    else:
        srs = [_chop(fn, p, scale, min_size, shave) for p in patches]

    out = srs[0].new_empty(srs[0].shape[0], srs[0].shape[1], scale * h, scale * w)
    H, W, Hh, Wh = scale * h, scale * w, scale * h_half, scale * w_half
    for sr, ((r0, _), (c0, _)), rows, cols in zip(
        srs, boxes, [(0, Hh), (0, Hh), (Hh, H), (Hh, H)], [(0, Wh), (Wh, W), (0, Wh), (Wh, W)]
    ):
        # global SR rows/cols [a, b) sit at [a - scale*r0, b - scale*r0) inside this quadrant's SR
        (a, b), (c, d) = rows, cols
        out[..., a:b, c:d] = sr[..., a - scale * r0 : b - scale * r0, c - scale * c0 : d - scale * c0]
    return out
